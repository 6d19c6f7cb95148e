"""The layers hold (docs/architecture.md): no two modules of pcapscan import
each other, directly or round a longer loop, whether at the top of a module
or inside a function; and no module reaches into another's private names."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "pcapscan"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def resolve(mod: str, is_pkg: bool, level: int, target) -> str:
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(mod: str, path: Path, known: dict):
    """(imported module, names taken from it) for every import in the module, anywhere in it."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            src = resolve(mod, is_pkg, node.level, node.module) if node.level else (node.module or "")
            if not src.startswith("pcapscan"):
                continue
            for alias in node.names:
                sub = f"{src}.{alias.name}"
                if sub in known:  # "from . import families": the module itself
                    yield sub, ()
                else:
                    yield src, (alias.name,)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pcapscan"):
                    yield alias.name, ()


def graph() -> dict:
    known = modules()
    edges: dict = {m: set() for m in known}
    for mod, path in known.items():
        for target, _names in imports_of(mod, path, known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != mod and not mod.startswith(target + "."):  # a package's own parents
                edges[mod].add(target)
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_pcapscan():
    edges = graph()
    assert "pcapscan.scans" in edges["pcapscan.fastpath.scans"]  # the graph sees function-level imports too
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_takes_another_modules_private_names():
    known = modules()
    taken = []
    for mod, path in known.items():
        for target, names in imports_of(mod, path, known):
            taken += [f"{mod} takes {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        tree = ast.parse(path.read_text())
        # the names this module gives the pcapscan modules it imports ("containers as C", "fingerprint as F")
        aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.level or (node.module or "").startswith("pcapscan")) for a in node.names
                   if any(m.endswith("." + a.name) for m in known)}
        for node in ast.walk(tree):
            # module._name: an attribute of an imported pcapscan module
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in aliases:
                taken.append(f"{mod} reads {node.value.id}.{node.attr}")
    assert taken == []
