"""Live lab support: network namespaces, listeners and recorders used to make
real captures (see netns.py). Nothing here is needed to analyse a capture."""
