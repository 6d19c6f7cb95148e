/* pcapscan.cnative: compiled helpers of hot loops, built by `pip install .`
 * when a C compiler and Python's headers are there (setup.py: optional). Each has a
 * pure Python/numpy twin giving the same result (pcapscan/speedups.py says which
 * runs; tests/test_speedups.py holds them to each other):
 *
 *   format_rows(templates, which, cols, sep, extra[, out]) -> bytes, or into `out`: its length
 *       rows of text from integer columns: report/rowtext.py's rows_text.
 *   FlowIndex().lookup(keys, keycol, n, create, fid, rank) -> n; .repoint(keys, old, new)
 *       the flow table's key -> flow id map: fastpath/flows.py's FlowTable.lookup (and _repoint).
 *   walk_pcap(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac, sec_at, frac_at, incl_at)
 *       a pcap chunk's records: fastpath/walk.py's walk_pcap.
 *   lane_decode(buf, off, incl, linktype, status, fields, rules, outs) -> count (outs: columns, option rows)
 *       the bulk decoder's common shape (Ethernet, IPv4 without options, TCP or UDP):
 *       fastpath/columns.py's _lane_py.
 *   flow_keys(src, sport, dst, dport, udp, key, dirb, head, head_lo, head_hi) -> h
 *       flow keys but their address pairs, and the rows where the pair changes: fastpath/flows.py's
 *       key_parts (FlowTable.keys numbers the pairs).
 *   flow_places(fid, rank, state, n1, n2, complex_bit, g, was_complex, i0, i1, many) -> (k0, k1, k2)
 *       each packet's place in its flow and the rows of first, second and later packets:
 *       fastpath/flows.py's flow_places.
 *   dense_ids(packed, ids, limit) -> n
 *       equal values get equal ids, numbered in ascending value order, by hashing (-1
 *       past `limit` distinct values): fastpath/columns.py's dense_ids.
 *   count_values(values) -> (rows, counts)
 *       each distinct value of an integer column, most common first, ties by first
 *       appearance (Counter.most_common): fingerprint.py's _count.
 *
 *   lay_records(buf, off, incl, heads, hlen, out) -> bytes written
 *       each record's `hlen` bytes of `heads` then its bytes of `buf`, laid end to end into
 *       `out`: what a capture's digest hashes (submissions.py's _lay_records).
 *
 * Arrays come in through the buffer protocol (no numpy headers needed).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int get_buf(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected", what, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* -- format_rows ----------------------------------------------------------------------- */

static inline char *put_int(char *out, int64_t v) {
    char tmp[24];
    int i = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *out++ = '-';
    while (i)
        *out++ = tmp[--i];
    return out;
}

#define MAX_COLS 16
#define MAX_TEMPLATES 4096

/* format_rows(templates, which, cols, sep, extra[, out]): the rows as a new bytes object;
 * with `out` (a bytearray, grown to the size it takes), written at its start instead: the
 * number of bytes written. A buffer reused from call to call spares the page faults of a
 * fresh block of tens of megabytes per call. */
static PyObject *format_rows(PyObject *self, PyObject *args) {
    PyObject *templates, *which_obj, *cols, *sep_obj, *extra, *out_obj = NULL;
    if (!PyArg_ParseTuple(args, "O!OO!SO!|O", &PyTuple_Type, &templates, &which_obj, &PyTuple_Type, &cols, &sep_obj,
                          &PyTuple_Type, &extra, &out_obj))
        return NULL;
    Py_ssize_t nt = PyTuple_GET_SIZE(templates), nc = PyTuple_GET_SIZE(cols), ne = PyTuple_GET_SIZE(extra);
    if (nc > MAX_COLS || nt > MAX_TEMPLATES) {
        PyErr_SetString(PyExc_ValueError, "format_rows: too many columns or templates");
        return NULL;
    }
    Py_ssize_t fixed[MAX_TEMPLATES];
    int nval[MAX_TEMPLATES];
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *tp = PyTuple_GET_ITEM(templates, t);
        if (!PyTuple_Check(tp) || PyTuple_GET_SIZE(tp) < 1 || PyTuple_GET_SIZE(tp) - 1 > nc) {
            PyErr_SetString(PyExc_ValueError, "format_rows: a template is a tuple of 1 + (values) bytes");
            return NULL;
        }
        nval[t] = (int)PyTuple_GET_SIZE(tp) - 1;
        fixed[t] = 0;
        for (Py_ssize_t j = 0; j <= nval[t]; j++) {
            PyObject *piece = PyTuple_GET_ITEM(tp, j);
            if (!PyBytes_Check(piece)) {
                PyErr_SetString(PyExc_TypeError, "format_rows: template pieces are bytes");
                return NULL;
            }
            fixed[t] += PyBytes_GET_SIZE(piece);
        }
    }
    for (Py_ssize_t j = 0; j < ne; j++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(extra, j))) {
            PyErr_SetString(PyExc_TypeError, "format_rows: extra rows are bytes");
            return NULL;
        }
    Py_buffer wv, cv[MAX_COLS], ov;
    int got = 0, has_out = 0;
    PyObject *result = NULL;
    if (get_buf(which_obj, &wv, 8, 0, "which") < 0)
        return NULL;
    Py_ssize_t n = wv.len / 8;
    for (; got < nc; got++) {
        if (get_buf(PyTuple_GET_ITEM(cols, got), &cv[got], 8, 0, "cols") < 0)
            goto done;
        if (cv[got].len / 8 != n) {
            PyErr_SetString(PyExc_ValueError, "format_rows: columns of another length than which");
            got++;
            goto done;
        }
    }
    const int64_t *which = (const int64_t *)wv.buf;
    Py_ssize_t seplen = PyBytes_GET_SIZE(sep_obj);
    const char *sep = PyBytes_AS_STRING(sep_obj);
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t w = which[i];
        if (w >= 0 && w < nt)
            size += fixed[w] + 20 * nval[w];
        else if (w < 0 && -w - 1 < ne)
            size += PyBytes_GET_SIZE(PyTuple_GET_ITEM(extra, -w - 1));
        else {
            PyErr_SetString(PyExc_IndexError, "format_rows: a row names no template nor extra row");
            goto done;
        }
        if (i)
            size += seplen;
    }
    char *out, *start;
    if (out_obj != NULL && out_obj != Py_None) {
        if (!PyByteArray_Check(out_obj)) {
            PyErr_SetString(PyExc_TypeError, "format_rows: out is a bytearray");
            goto done;
        }
        if (PyByteArray_GET_SIZE(out_obj) < size && PyByteArray_Resize(out_obj, size) < 0)
            goto done;
        if (get_buf(out_obj, &ov, 1, 1, "out") < 0)
            goto done;
        has_out = 1;
        out = start = ov.buf;
    } else {
        result = PyBytes_FromStringAndSize(NULL, size);
        if (!result)
            goto done;
        out = start = PyBytes_AS_STRING(result);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i) {
            memcpy(out, sep, seplen);
            out += seplen;
        }
        int64_t w = which[i];
        if (w < 0) {
            PyObject *b = PyTuple_GET_ITEM(extra, -w - 1);
            memcpy(out, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
            out += PyBytes_GET_SIZE(b);
            continue;
        }
        PyObject *tp = PyTuple_GET_ITEM(templates, w);
        for (int j = 0;; j++) {
            PyObject *piece = PyTuple_GET_ITEM(tp, j);
            memcpy(out, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece));
            out += PyBytes_GET_SIZE(piece);
            if (j == nval[w])
                break;
            out = put_int(out, ((const int64_t *)cv[j].buf)[i]);
        }
    }
    if (has_out)
        result = PyLong_FromSsize_t(out - start);
    else if (_PyBytes_Resize(&result, out - start) < 0)
        result = NULL;
done:
    if (has_out)
        PyBuffer_Release(&ov);
    PyBuffer_Release(&wv);
    for (int j = 0; j < got; j++)
        PyBuffer_Release(&cv[j]);
    return result;
}

/* -- walk_pcap ------------------------------------------------------------------------- */

static inline uint32_t rd_u32(const uint8_t *p, int big) {
    return big ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
               : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

/* walk_pcap(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac, sec_at, frac_at, incl_at)
 *   -> (count, pos, status, bad): fastpath/walk.py's walk_pcap (the plain loop), compiled; where a record
 *   header's fields are comes from the caller (capture/containers.py says it). */
#define WALK_AHEAD 2048 /* bytes: some 25 records ahead, about a memory latency of walking */

static PyObject *walk_pcap(PyObject *self, PyObject *args) {
    PyObject *buf_o, *o_off, *o_incl, *o_sec, *o_frac;
    Py_ssize_t pos, hlen, sec_at, frac_at, incl_at;
    int big;
    long long maxlen;
    if (!PyArg_ParseTuple(args, "OnnpLOOOOnnn", &buf_o, &pos, &hlen, &big, &maxlen, &o_off, &o_incl, &o_sec, &o_frac,
                          &sec_at, &frac_at, &incl_at))
        return NULL;
    Py_buffer bv, v_off, v_incl, v_sec, v_frac;
    if (PyObject_GetBuffer(buf_o, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    int got = 0;
    PyObject *result = NULL;
    if (get_buf(o_off, &v_off, 8, 1, "out_off") < 0)
        goto done;
    got++;
    if (get_buf(o_incl, &v_incl, 8, 1, "out_incl") < 0)
        goto done;
    got++;
    if (get_buf(o_sec, &v_sec, 4, 1, "out_sec") < 0)
        goto done;
    got++;
    if (get_buf(o_frac, &v_frac, 4, 1, "out_frac") < 0)
        goto done;
    got++;
    Py_ssize_t cap = v_off.len / 8;
    if (v_incl.len / 8 < cap || v_sec.len / 4 < cap || v_frac.len / 4 < cap || pos < 0 || sec_at < 0 ||
        frac_at < 0 || incl_at < 0 || sec_at + 4 > hlen || frac_at + 4 > hlen || incl_at + 4 > hlen) {
        PyErr_SetString(PyExc_ValueError, "walk_pcap: output arrays of different lengths, or fields outside the header");
        goto done;
    }
    const uint8_t *buf = bv.buf;
    Py_ssize_t end = bv.len, n = 0;
    int64_t *off = v_off.buf, *incl_out = v_incl.buf;
    uint32_t *sec = v_sec.buf, *frac = v_frac.buf;
    int status = 0;
    long long bad = 0;
    Py_BEGIN_ALLOW_THREADS
    while (n < cap && pos + hlen <= end) {
        /* a mapped chunk (columns.Reader.map_chunks) comes from memory, not the cache: the bytes
         * ahead are asked for now, or each record's header waits for the one before it to arrive */
        __builtin_prefetch(buf + pos + WALK_AHEAD);
        __builtin_prefetch(buf + pos + WALK_AHEAD + 64);
        uint32_t incl = rd_u32(buf + pos + incl_at, big);
        if ((long long)incl > maxlen) {
            status = 1;
            bad = incl;
            break;
        }
        if (pos + hlen + (Py_ssize_t)incl > end)
            break;
        off[n] = pos + hlen;
        incl_out[n] = incl;
        sec[n] = rd_u32(buf + pos + sec_at, big);
        frac[n] = rd_u32(buf + pos + frac_at, big);
        n++;
        pos += hlen + incl;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nniL", n, pos, status, bad);
done:
    PyBuffer_Release(&bv);
    if (got > 0)
        PyBuffer_Release(&v_off);
    if (got > 1)
        PyBuffer_Release(&v_incl);
    if (got > 2)
        PyBuffer_Release(&v_sec);
    if (got > 3)
        PyBuffer_Release(&v_frac);
    return result;
}

/* -- lane_decode ----------------------------------------------------------------------- */

/* The fields lane_decode reads, in the order of the `fields` argument: (offset in the record,
 * size in bytes), every one of them from fastpath/columns.py's _LANE layout (itself read from
 * capture/decode.py's header declarations). */
enum { F_ETH, F_VHL, F_TOTAL, F_IPID, F_FRAG, F_TTL, F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT, F_SEQ, F_ACK, F_WIN,
       F_DOFF, F_FLAGS, F_ULEN, N_FIELDS };
/* ... and the rules, in the order of the `rules` argument (columns.py's _LANE_RULES). */
enum { R_ETH_LT, R_L3, R_L4, R_IP4, R_TCP, R_UDP, R_VHL, R_ETH_IP, R_OFFMASK, R_PTCP, R_FAST, R_WIDTH, R_OPTROW,
       N_RULES };
/* ... and the output columns (columns.py's _LANE_OUT). */
enum { O_IDX, O_SRC, O_DST, O_UDP, O_TTL, O_IPID, O_LEN, O_SPORT, O_DPORT, O_FLAGS, O_SEQ, O_ACK, O_WIN, O_PAY, O_DOFF,
       O_OLEN, O_OPTS, N_OUTS };
/* (O_OPTS: rows of rules[R_OPTROW] bytes, one per TCP record with options: their length, the
 * option bytes inside the capture, zeros; as columns._lane_options gathers them otherwise) */
static const Py_ssize_t out_size[N_OUTS] = {8, 8, 8, 1, 1, 2, 4, 2, 2, 1, 4, 4, 2, 4, 1, 1, 0};

/* (always inlined: a call per field cost the lane a quarter of its time) */
static inline __attribute__((always_inline)) uint32_t rd_be(const uint8_t *r, const Py_ssize_t *f) {
    const uint8_t *p = r + f[0];
    switch (f[1]) {
    case 1:
        return p[0];
    case 2:
        return (uint32_t)p[0] << 8 | p[1];
    default:
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
}

/* lane_decode(buf, off, incl, linktype, status, fields, rules, bulk_protos, outs) -> k
 *   off, incl: int64[n]; linktype: int32[n]; status: int8[n], set to rules[R_FAST] for the records
 *   of the common shape; outs: N_OUTS arrays of at least n items (their item sizes: out_size),
 *   their first k rows written, one per such record, in record order. A record's bytes past
 *   the buffer's end read as zeros (columns.gather_rows). */
#define LANE_AHEAD 16 /* records */

static PyObject *lane_decode(PyObject *self, PyObject *args) {
    PyObject *buf_o, *off_o, *incl_o, *lt_o, *st_o, *fields_o, *rules_o, *outs_o;
    Py_buffer bulk;
    if (!PyArg_ParseTuple(args, "OOOOOO!O!y*O!", &buf_o, &off_o, &incl_o, &lt_o, &st_o, &PyTuple_Type, &fields_o,
                          &PyTuple_Type, &rules_o, &bulk, &PyTuple_Type, &outs_o))
        return NULL;
    Py_ssize_t fld[N_FIELDS][2];
    long long rule[N_RULES];
    uint8_t is_bulk[256] = {0};
    for (Py_ssize_t j = 0; j < bulk.len; j++)
        is_bulk[((const uint8_t *)bulk.buf)[j]] = 1;
    PyBuffer_Release(&bulk);
    if (PyTuple_GET_SIZE(fields_o) != N_FIELDS || PyTuple_GET_SIZE(rules_o) != N_RULES ||
        PyTuple_GET_SIZE(outs_o) != N_OUTS) {
        PyErr_SetString(PyExc_ValueError, "lane_decode: wrong number of fields, rules or outputs");
        return NULL;
    }
    for (int j = 0; j < N_RULES; j++) {
        rule[j] = PyLong_AsLongLong(PyTuple_GET_ITEM(rules_o, j));
        if (rule[j] == -1 && PyErr_Occurred())
            return NULL;
    }
    if (rule[R_WIDTH] < 1 || rule[R_WIDTH] > 256) {
        PyErr_SetString(PyExc_ValueError, "lane_decode: a row of 1 to 256 bytes");
        return NULL;
    }
    if (rule[R_OPTROW] < 61 - rule[R_TCP] || rule[R_OPTROW] > 256) { /* a length byte and a TCP header's options */
        PyErr_SetString(PyExc_ValueError, "lane_decode: an option row too short for a TCP header's options");
        return NULL;
    }
    for (int j = 0; j < N_FIELDS; j++) {
        PyObject *f = PyTuple_GET_ITEM(fields_o, j);
        if (!PyArg_ParseTuple(f, "nn", &fld[j][0], &fld[j][1]))
            return NULL;
        if (fld[j][0] < 0 || (fld[j][1] != 1 && fld[j][1] != 2 && fld[j][1] != 4) ||
            fld[j][0] + fld[j][1] > rule[R_WIDTH]) {
            PyErr_SetString(PyExc_ValueError, "lane_decode: a field outside the row, or not of 1, 2 or 4 bytes");
            return NULL;
        }
    }
    Py_buffer bv, ov, iv, lv, sv, outv[N_OUTS];
    int got = 0, nout = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(buf_o, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    got++;
    if (get_buf(off_o, &ov, 8, 0, "off") < 0)
        goto done;
    got++;
    if (get_buf(incl_o, &iv, 8, 0, "incl") < 0)
        goto done;
    got++;
    if (get_buf(lt_o, &lv, 4, 0, "linktype") < 0)
        goto done;
    got++;
    if (get_buf(st_o, &sv, 1, 1, "status") < 0)
        goto done;
    got++;
    Py_ssize_t n = ov.len / 8;
    if (iv.len / 8 != n || lv.len / 4 != n || sv.len != n) {
        PyErr_SetString(PyExc_ValueError, "lane_decode: off, incl, linktype and status of different lengths");
        goto done;
    }
    for (; nout < N_OUTS; nout++) {
        Py_ssize_t size = nout == O_OPTS ? (Py_ssize_t)rule[R_OPTROW] : out_size[nout];
        if (get_buf(PyTuple_GET_ITEM(outs_o, nout), &outv[nout], nout == O_OPTS ? 1 : size, 1, "outs") < 0)
            goto done;
        if (outv[nout].len / size < n) {
            PyErr_SetString(PyExc_ValueError, "lane_decode: an output shorter than the records");
            nout++;
            goto done;
        }
    }
    const uint8_t *buf = bv.buf;
    Py_ssize_t blen = bv.len, k = 0;
    const int64_t *off = ov.buf, *incl = iv.buf;
    const int32_t *lt = lv.buf;
    int8_t *status = sv.buf;
    int64_t *o_idx = outv[O_IDX].buf, *o_src = outv[O_SRC].buf, *o_dst = outv[O_DST].buf;
    uint8_t *o_udp = outv[O_UDP].buf, *o_ttl = outv[O_TTL].buf, *o_flags = outv[O_FLAGS].buf,
            *o_doff = outv[O_DOFF].buf, *o_olen = outv[O_OLEN].buf;
    uint16_t *o_ipid = outv[O_IPID].buf, *o_sport = outv[O_SPORT].buf, *o_dport = outv[O_DPORT].buf,
             *o_win = outv[O_WIN].buf;
    uint32_t *o_len = outv[O_LEN].buf, *o_seq = outv[O_SEQ].buf, *o_ack = outv[O_ACK].buf, *o_pay = outv[O_PAY].buf;
    uint8_t *o_opts = outv[O_OPTS].buf;
    const long long l3 = rule[R_L3], l4 = rule[R_L4], ip4 = rule[R_IP4], tcph = rule[R_TCP], udph = rule[R_UDP];
    const Py_ssize_t width = (Py_ssize_t)rule[R_WIDTH], optrow = (Py_ssize_t)rule[R_OPTROW];
    Py_BEGIN_ALLOW_THREADS
    uint8_t tmp[256];
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + LANE_AHEAD < n && off[i + LANE_AHEAD] >= 0 && off[i + LANE_AHEAD] < blen) /* (see walk_pcap) */
            __builtin_prefetch(buf + off[i + LANE_AHEAD]);
        if (lt[i] != rule[R_ETH_LT] || incl[i] < l4 + udph)
            continue;
        Py_ssize_t o = off[i];
        if (o < 0 || o > blen)
            continue;
        const uint8_t *r = buf + o;
        if (o + width > blen) { /* the rows past the buffer's end: zeros, as gather_rows gives them */
            memset(tmp, 0, width);
            memcpy(tmp, buf + o, blen - o);
            r = tmp;
        }
        if (rd_be(r, fld[F_ETH]) != rule[R_ETH_IP] || rd_be(r, fld[F_VHL]) != rule[R_VHL] ||
            !is_bulk[rd_be(r, fld[F_PROTO]) & 0xFF] || (rd_be(r, fld[F_FRAG]) & rule[R_OFFMASK]))
            continue;
        int tcp = rd_be(r, fld[F_PROTO]) == rule[R_PTCP];
        long long cap = incl[i] - l3, total = rd_be(r, fld[F_TOTAL]);
        if (total == 0)
            total = cap;
        if (total < ip4)
            continue;
        long long end = (total < cap ? total : cap) + l3;
        if (end < l4 + (tcp ? tcph : udph))
            continue;
        long long doff = (long long)(rd_be(r, fld[F_DOFF]) >> 4) << 2;
        if (tcp && doff < tcph)
            continue;
        status[i] = (int8_t)rule[R_FAST];
        long long l4_len = total - ip4, pay;
        o_idx[k] = i;
        o_src[k] = rd_be(r, fld[F_SRC]);
        o_dst[k] = rd_be(r, fld[F_DST]);
        o_udp[k] = !tcp;
        o_ttl[k] = (uint8_t)rd_be(r, fld[F_TTL]);
        o_ipid[k] = (uint16_t)rd_be(r, fld[F_IPID]);
        o_len[k] = (uint32_t)total;
        o_sport[k] = (uint16_t)rd_be(r, fld[F_SPORT]);
        o_dport[k] = (uint16_t)rd_be(r, fld[F_DPORT]);
        if (tcp) {
            o_flags[k] = (uint8_t)rd_be(r, fld[F_FLAGS]);
            o_seq[k] = rd_be(r, fld[F_SEQ]);
            o_ack[k] = rd_be(r, fld[F_ACK]);
            o_win[k] = (uint16_t)rd_be(r, fld[F_WIN]);
            pay = l4_len - doff;
            long long opt_end = doff + l4 < end ? doff + l4 : end;
            o_olen[k] = doff > tcph ? (uint8_t)(opt_end - (l4 + tcph)) : 0;
            if (doff > tcph) { /* its options' row: read here, while the record is in the cache */
                Py_ssize_t at = o + l4 + tcph, have = blen - at;
                have = have < 0 ? 0 : (have > o_olen[k] ? o_olen[k] : have); /* zeros past the buffer */
                o_opts[0] = o_olen[k];
                memcpy(o_opts + 1, buf + at, have);
                memset(o_opts + 1 + have, 0, optrow - 1 - have);
                o_opts += optrow;
            }
        } else {
            o_flags[k] = 0;
            o_seq[k] = o_ack[k] = 0;
            o_win[k] = 0;
            long long ulen = rd_be(r, fld[F_ULEN]), avail = l4_len - udph;
            pay = ulen >= udph && ulen - udph < avail ? ulen - udph : avail;
            o_olen[k] = 0;
        }
        o_doff[k] = (uint8_t)doff;
        o_pay[k] = (uint32_t)(pay > 0 ? pay : 0);
        k++;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(k);
done:
    for (int j = 0; j < nout; j++)
        PyBuffer_Release(&outv[j]);
    if (got > 4)
        PyBuffer_Release(&sv);
    if (got > 3)
        PyBuffer_Release(&lv);
    if (got > 2)
        PyBuffer_Release(&iv);
    if (got > 1)
        PyBuffer_Release(&ov);
    PyBuffer_Release(&bv);
    return result;
}

/* -- FlowIndex ------------------------------------------------------------------------- */

/* An open-addressing hash map of 64-bit flow keys to flow ids. A slot holds a flow id
 * only (4 bytes); the key itself is the flow table's own key column, read at the id:
 * no second copy of the keys. Linear probing, at most MAX_LOAD full. */
typedef struct {
    PyObject_HEAD
    int32_t *slots; /* -1: empty */
    uint64_t mask;
    int bits;
    Py_ssize_t used;
} FlowIndex;

#define MAX_LOAD_NUM 7
#define PREFETCH 16
#define MAX_LOAD_DEN 10

static inline uint64_t slot_of(uint64_t key, int bits) {
    return (key * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
}

static int flowindex_grow(FlowIndex *self, Py_ssize_t want, const uint64_t *keycol) {
    int bits = self->bits ? self->bits : 16;
    while ((double)want * MAX_LOAD_DEN > (double)((uint64_t)1 << bits) * MAX_LOAD_NUM)
        bits++;
    if (bits == self->bits)
        return 0;
    uint64_t cap = (uint64_t)1 << bits, mask = cap - 1;
    int32_t *slots = PyMem_RawMalloc(cap * sizeof(int32_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0xFF, cap * sizeof(int32_t));
    if (self->slots) {
        for (uint64_t s = 0; s <= self->mask; s++) {
            int32_t id = self->slots[s];
            if (id < 0)
                continue;
            uint64_t h = slot_of(keycol[id], bits);
            while (slots[h] >= 0)
                h = (h + 1) & mask;
            slots[h] = id;
        }
        PyMem_RawFree(self->slots);
    }
    self->slots = slots;
    self->mask = mask;
    self->bits = bits;
    return 0;
}

static void flowindex_dealloc(FlowIndex *self) {
    PyMem_RawFree(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* lookup(keys, keycol, n, create, fid, rank) -> new n
 *   keys: uint64[m]; keycol: uint64[>= n + m when create] (the flow table's key column,
 *   keys of flows 0..n-1; new flows' keys are written at n, n+1, ...); fid: int64[m] out
 *   (-1: unknown, when not create); rank: uint8[m] out or None: how many earlier keys of
 *   this call were the same flow, counted up to 2 (2: two or more). New flows are numbered
 *   in order of first appearance. */
static PyObject *flowindex_lookup(FlowIndex *self, PyObject *args) {
    PyObject *keys_o, *keycol_o, *fid_o, *rank_o;
    Py_ssize_t n;
    int create;
    if (!PyArg_ParseTuple(args, "OOnpOO", &keys_o, &keycol_o, &n, &create, &fid_o, &rank_o))
        return NULL;
    Py_buffer kv, cv, fv, rv;
    int has_rank = rank_o != Py_None;
    if (get_buf(keys_o, &kv, 8, 0, "keys") < 0)
        return NULL;
    if (get_buf(keycol_o, &cv, 8, 1, "keycol") < 0) {
        PyBuffer_Release(&kv);
        return NULL;
    }
    if (get_buf(fid_o, &fv, 8, 1, "fid") < 0) {
        PyBuffer_Release(&kv);
        PyBuffer_Release(&cv);
        return NULL;
    }
    if (has_rank && get_buf(rank_o, &rv, 1, 1, "rank") < 0) {
        PyBuffer_Release(&kv);
        PyBuffer_Release(&cv);
        PyBuffer_Release(&fv);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t m = kv.len / 8;
    const uint64_t *keys = kv.buf;
    uint64_t *keycol = cv.buf;
    int64_t *fid = fv.buf;
    uint8_t *rank = has_rank ? rv.buf : NULL;
    int32_t *seen = NULL; /* this call's flows: a small map of flow id -> slot in cnt */
    uint8_t *cnt = NULL;
    uint64_t smask = 0;
    if (fv.len / 8 != m || (has_rank && rv.len != m) || n < 0 || cv.len / 8 < n + (create ? m : 0) ||
        n + m >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "FlowIndex.lookup: arrays of the wrong length");
        goto done;
    }
    if (flowindex_grow(self, n + (create ? m : 0) + 1, keycol) < 0)
        goto done;
    if (has_rank) {
        uint64_t cap = 1024;
        while (cap < 2 * (uint64_t)m)
            cap <<= 1;
        smask = cap - 1;
        seen = PyMem_RawMalloc(cap * sizeof(int32_t));
        cnt = PyMem_RawMalloc(cap);
        if (!seen || !cnt) {
            PyErr_NoMemory();
            goto done;
        }
        memset(seen, 0xFF, cap * sizeof(int32_t));
    }
    Py_BEGIN_ALLOW_THREADS
    int32_t *slots = self->slots;
    uint64_t mask = self->mask;
    int bits = self->bits;
    for (Py_ssize_t i = 0; i < m; i++) {
        /* the slot of a key PREFETCH keys ahead, and the key column at the id its slot held
         * PREFETCH / 2 keys ahead, asked of memory before they are needed (a hint only: an id
         * read early may be moved by a later insertion, and is never used but to prefetch) */
        if (i + PREFETCH < m)
            __builtin_prefetch(&slots[slot_of(keys[i + PREFETCH], bits)]);
        if (i + PREFETCH / 2 < m) {
            int32_t early = slots[slot_of(keys[i + PREFETCH / 2], bits)];
            if (early >= 0)
                __builtin_prefetch(&keycol[early]);
        }
        uint64_t key = keys[i];
        uint64_t h = slot_of(key, bits);
        int32_t id;
        for (;;) {
            id = slots[h];
            if (id < 0 || keycol[id] == key)
                break;
            h = (h + 1) & mask;
        }
        if (id < 0 && create) {
            id = (int32_t)n++;
            keycol[id] = key;
            slots[h] = id;
        }
        fid[i] = id;
        if (rank) {
            if (id < 0) {
                rank[i] = 0;
                continue;
            }
            uint64_t g = ((uint64_t)id * 0x9E3779B97F4A7C15ULL) & smask;
            while (seen[g] >= 0 && seen[g] != id)
                g = (g + 1) & smask;
            if (seen[g] < 0) {
                seen[g] = id;
                cnt[g] = 0;
            }
            rank[i] = cnt[g];
            if (cnt[g] < 2)
                cnt[g]++;
        }
    }
    Py_END_ALLOW_THREADS
    self->used = n;
    result = PyLong_FromSsize_t(n);
done:
    PyMem_RawFree(seen);
    PyMem_RawFree(cnt);
    PyBuffer_Release(&kv);
    PyBuffer_Release(&cv);
    PyBuffer_Release(&fv);
    if (has_rank)
        PyBuffer_Release(&rv);
    return result;
}

/* reserve(n, keycol): room for n flows without growing again (keycol: the key column, keys of
 * the flows the index holds) */
static PyObject *flowindex_reserve(FlowIndex *self, PyObject *args) {
    PyObject *keycol_o;
    Py_ssize_t want;
    if (!PyArg_ParseTuple(args, "nO", &want, &keycol_o))
        return NULL;
    Py_buffer cv;
    if (get_buf(keycol_o, &cv, 8, 0, "keycol") < 0)
        return NULL;
    int bad = want < 0 || cv.len / 8 < self->used;
    if (bad)
        PyErr_SetString(PyExc_ValueError, "FlowIndex.reserve: a key column shorter than the flows held");
    int err = bad ? -1 : flowindex_grow(self, want, cv.buf);
    PyBuffer_Release(&cv);
    if (err < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* repoint(keys, old, new): key i, held as flow id old[i], is held as new[i] from now on (the flow
 * table renumbers flows; the key column holds each key at its new id). Every slot is found before
 * any is rewritten: a new id may be another key's old one. */
static PyObject *flowindex_repoint(FlowIndex *self, PyObject *args) {
    PyObject *keys_o, *old_o, *new_o;
    if (!PyArg_ParseTuple(args, "OOO", &keys_o, &old_o, &new_o))
        return NULL;
    Py_buffer kv, ov, nv;
    if (get_buf(keys_o, &kv, 8, 0, "keys") < 0)
        return NULL;
    if (get_buf(old_o, &ov, 8, 0, "old") < 0) {
        PyBuffer_Release(&kv);
        return NULL;
    }
    if (get_buf(new_o, &nv, 8, 0, "new") < 0) {
        PyBuffer_Release(&kv);
        PyBuffer_Release(&ov);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t m = kv.len / 8;
    const uint64_t *keys = kv.buf;
    const int64_t *old = ov.buf, *new = nv.buf;
    uint64_t *at = NULL;
    if (ov.len / 8 != m || nv.len / 8 != m) {
        PyErr_SetString(PyExc_ValueError, "FlowIndex.repoint: arrays of the wrong length");
        goto done;
    }
    at = PyMem_RawMalloc((m ? m : 1) * sizeof(uint64_t));
    if (!at) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        uint64_t h = self->slots ? slot_of(keys[i], self->bits) : 0;
        for (;;) {
            int32_t id = self->slots ? self->slots[h] : -1;
            if (id < 0) {
                PyErr_SetString(PyExc_KeyError, "FlowIndex.repoint: a key not held as the id given");
                goto done;
            }
            if (id == old[i])
                break;
            h = (h + 1) & self->mask;
        }
        at[i] = h;
    }
    for (Py_ssize_t i = 0; i < m; i++)
        self->slots[at[i]] = (int32_t)new[i];
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(at);
    PyBuffer_Release(&kv);
    PyBuffer_Release(&ov);
    PyBuffer_Release(&nv);
    return result;
}

static PyObject *flowindex_nbytes(FlowIndex *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->slots ? (self->mask + 1) * sizeof(int32_t) : 0);
}

static PyMethodDef flowindex_methods[] = {
    {"lookup", (PyCFunction)flowindex_lookup, METH_VARARGS,
     "lookup(keys, keycol, n, create, fid, rank) -> n: flow ids of keys (see cnative.c)"},
    {"reserve", (PyCFunction)flowindex_reserve, METH_VARARGS, "reserve(n, keycol): room for n flows"},
    {"repoint", (PyCFunction)flowindex_repoint, METH_VARARGS, "repoint(keys, old, new): keys held as other ids"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef flowindex_getset[] = {
    {"nbytes", (getter)flowindex_nbytes, NULL, "bytes of the slots", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FlowIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pcapscan.cnative.FlowIndex",
    .tp_basicsize = sizeof(FlowIndex),
    .tp_dealloc = (destructor)flowindex_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "64-bit flow keys -> flow ids, numbered in order of first appearance",
    .tp_methods = flowindex_methods,
    .tp_getset = flowindex_getset,
    .tp_new = PyType_GenericNew,
};

/* -- dense_ids ------------------------------------------------------------------------ */

typedef struct {
    int64_t value;
    int64_t id;
} ValueId;

static int by_value(const void *a, const void *b) {
    int64_t x = ((const ValueId *)a)->value, y = ((const ValueId *)b)->value;
    return (x > y) - (x < y);
}

/* dense_ids(packed, ids, limit) -> n: packed int64[m]; ids int64[m] out: the rank of each
 * value among the distinct values (np.unique(packed, return_inverse=True)'s inverse), n of
 * them; -1 (ids undefined) as soon as there are more than `limit`: hashing pays where the
 * distinct values are few, sorting (the caller's way) where they are many. Open
 * addressing over the distinct values (at most half full), ids numbered first in order
 * of appearance, then renumbered by one sort of the distinct values only. */
static PyObject *dense_ids(PyObject *self, PyObject *args) {
    PyObject *packed_o, *ids_o;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "OOn", &packed_o, &ids_o, &limit))
        return NULL;
    Py_buffer pv, iv;
    if (get_buf(packed_o, &pv, 8, 0, "dense_ids packed") < 0)
        return NULL;
    if (get_buf(ids_o, &iv, 8, 1, "dense_ids ids") < 0) {
        PyBuffer_Release(&pv);
        return NULL;
    }
    Py_ssize_t m = pv.len / 8;
    const int64_t *packed = pv.buf;
    int64_t *ids = iv.buf;
    int64_t *slots = NULL, *rank = NULL;
    ValueId *uniq = NULL;
    Py_ssize_t n = 0, ucap = 1024;
    int bits = 11;
    PyObject *result = NULL;
    if (iv.len / 8 != m) {
        PyErr_SetString(PyExc_ValueError, "dense_ids: ids and packed differ in length");
        goto done;
    }
    slots = PyMem_RawMalloc(((size_t)1 << bits) * sizeof(int64_t));
    uniq = PyMem_RawMalloc(ucap * sizeof(ValueId));
    if (!slots || !uniq) {
        PyErr_NoMemory();
        goto done;
    }
    memset(slots, 0xFF, ((size_t)1 << bits) * sizeof(int64_t));
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t v = packed[i];
        if (i && v == packed[i - 1]) { /* a run of one value (a scan's rows often are): its id again */
            ids[i] = ids[i - 1];
            continue;
        }
        uint64_t h = slot_of((uint64_t)v, bits);
        int64_t id;
        while ((id = slots[h]) >= 0 && uniq[id].value != v)
            h = (h + 1) & mask;
        if (id < 0) {
            if (n == limit) {
                result = PyLong_FromLong(-1);
                goto done;
            }
            if (n == ucap) {
                ValueId *more = PyMem_RawRealloc(uniq, 2 * ucap * sizeof(ValueId));
                if (!more) {
                    PyErr_NoMemory();
                    goto done;
                }
                uniq = more;
                ucap *= 2;
            }
            id = n++;
            uniq[id].value = v;
            uniq[id].id = id;
            slots[h] = id;
            if ((uint64_t)n * 2 > mask) { /* more than half full: twice the slots */
                bits++;
                mask = ((uint64_t)1 << bits) - 1;
                int64_t *more = PyMem_RawRealloc(slots, ((size_t)1 << bits) * sizeof(int64_t));
                if (!more) {
                    PyErr_NoMemory();
                    goto done;
                }
                slots = more;
                memset(slots, 0xFF, ((size_t)1 << bits) * sizeof(int64_t));
                for (Py_ssize_t j = 0; j < n; j++) {
                    uint64_t g = slot_of((uint64_t)uniq[j].value, bits);
                    while (slots[g] >= 0)
                        g = (g + 1) & mask;
                    slots[g] = j;
                }
            }
        }
        ids[i] = id;
    }
    qsort(uniq, (size_t)n, sizeof(ValueId), by_value);
    rank = PyMem_RawMalloc((n ? n : 1) * sizeof(int64_t));
    if (!rank) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++)
        rank[uniq[r].id] = r;
    for (Py_ssize_t i = 0; i < m; i++)
        ids[i] = rank[ids[i]];
    result = PyLong_FromSsize_t(n);
done:
    PyMem_RawFree(slots);
    PyMem_RawFree(uniq);
    PyMem_RawFree(rank);
    PyBuffer_Release(&pv);
    PyBuffer_Release(&iv);
    return result;
}

/* -- count_values ---------------------------------------------------------------------- */

typedef struct {
    int64_t value;
    int64_t first; /* the row where it first appears */
    int64_t count;
} ValueCount;

/* Values of at most 16 bits index this table (value + bias -> entry in the distinct
 * values, -1: none yet); every entry a call sets it clears again before it returns.
 * Module-wide, used with the GIL held. */
static int32_t narrow_slots[1 << 16];
static int narrow_ready = 0;

#define COUNT_NEW(v, i)                                                                        \
    do {                                                                                       \
        if (n == cap) {                                                                        \
            ValueCount *more = PyMem_RawRealloc(uniq, 2 * cap * sizeof(ValueCount));           \
            if (!more) {                                                                       \
                PyErr_NoMemory();                                                              \
                goto done;                                                                     \
            }                                                                                  \
            uniq = more;                                                                       \
            cap *= 2;                                                                          \
        }                                                                                      \
        id = n++;                                                                              \
        uniq[id].value = (v);                                                                  \
        uniq[id].first = (i);                                                                  \
        uniq[id].count = 0;                                                                    \
    } while (0)

/* Where a value not like the row before's stands: narrow values (at most 16 bits)
 * index narrow_slots, wider ones are hashed (open addressing, the table at most half
 * full); a new value gets its entry (COUNT_NEW) and its slot. Sets `id`. */
#define FIND_NARROW(v, i)                                                                      \
    do {                                                                                       \
        id = narrow_slots[(v) + bias];                                                         \
        if (id < 0) {                                                                          \
            COUNT_NEW(v, i);                                                                   \
            narrow_slots[(v) + bias] = (int32_t)id;                                            \
        }                                                                                      \
    } while (0)

#define FIND_HASHED(v, i)                                                                      \
    do {                                                                                       \
        uint64_t mask = ((uint64_t)1 << bits) - 1;                                             \
        uint64_t h = slot_of((uint64_t)(v), bits);                                             \
        while ((id = slots[h]) >= 0 && uniq[id].value != (v))                                  \
            h = (h + 1) & mask;                                                                \
        if (id < 0) {                                                                          \
            COUNT_NEW(v, i);                                                                   \
            slots[h] = id;                                                                     \
            if ((uint64_t)n * 2 > mask) { /* more than half full: twice the slots */           \
                bits++;                                                                        \
                mask = ((uint64_t)1 << bits) - 1;                                              \
                int64_t *more = PyMem_RawRealloc(slots, ((size_t)1 << bits) * 8);              \
                if (!more) {                                                                   \
                    PyErr_NoMemory();                                                          \
                    goto done;                                                                 \
                }                                                                              \
                slots = more;                                                                  \
                memset(slots, 0xFF, ((size_t)1 << bits) * 8);                                  \
                for (Py_ssize_t j = 0; j < n; j++) {                                           \
                    uint64_t g = slot_of((uint64_t)uniq[j].value, bits);                       \
                    while (slots[g] >= 0)                                                      \
                        g = (g + 1) & mask;                                                    \
                    slots[g] = j;                                                              \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* One item type's pass: a row equal to the one before takes its value's entry again
 * (the columns hold long runs of one value), the others FIND theirs. */
#define COUNT_LOOP(T, FIND)                                                                    \
    {                                                                                          \
        const T *a = (const T *)buf;                                                           \
        for (Py_ssize_t i = 0; i < m; i++) {                                                   \
            int64_t v = (int64_t)a[i];                                                         \
            if (v == prev && prev_id >= 0) {                                                   \
                uniq[prev_id].count++;                                                         \
                continue;                                                                      \
            }                                                                                  \
            int64_t id;                                                                        \
            FIND(v, i);                                                                        \
            uniq[id].count++;                                                                  \
            prev = v;                                                                          \
            prev_id = id;                                                                      \
        }                                                                                      \
    }

/* count_values(values) -> (rows, counts): bytes of int64 each: for each distinct value of
 * the integer column `values` the row where it first appears and how often it does, most
 * common first, ties in order of first appearance (collections.Counter.most_common):
 * fingerprint.py's _count. One pass over the rows, then a stable counting sort of the
 * distinct values by count. */
static PyObject *count_values(PyObject *self, PyObject *args) {
    PyObject *values_o;
    if (!PyArg_ParseTuple(args, "O", &values_o))
        return NULL;
    Py_buffer vv;
    if (PyObject_GetBuffer(values_o, &vv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    const char *fmt = vv.format ? vv.format : "B";
    while (*fmt == '<' || *fmt == '>' || *fmt == '=' || *fmt == '@' || *fmt == '!')
        fmt++;
    Py_ssize_t size = vv.itemsize;
    if (!*fmt || !strchr("?bBhHiIlLqQ", *fmt) || fmt[1] || (size != 1 && size != 2 && size != 4 && size != 8)) {
        PyErr_Format(PyExc_TypeError, "count_values: an integer column expected, not '%s'", vv.format);
        PyBuffer_Release(&vv);
        return NULL;
    }
    int is_signed = *fmt == 'b' || *fmt == 'h' || *fmt == 'i' || *fmt == 'l' || *fmt == 'q';
    Py_ssize_t m = vv.len / size;
    const char *buf = vv.buf;
    Py_ssize_t n = 0, cap = 64;
    int bits = 7;
    int64_t prev = 0, prev_id = -1;
    int64_t bias = !is_signed ? 0 : size == 1 ? 128 : 32768; /* narrow values: their index in narrow_slots */
    int64_t *slots = NULL;
    Py_ssize_t *bucket = NULL;
    ValueCount *uniq = NULL, *sorted = NULL;
    PyObject *rows_b = NULL, *counts_b = NULL, *result = NULL;
    if (!narrow_ready) {
        memset(narrow_slots, 0xFF, sizeof(narrow_slots));
        narrow_ready = 1;
    }
    uniq = PyMem_RawMalloc(cap * sizeof(ValueCount));
    if (size > 2)
        slots = PyMem_RawMalloc(((size_t)1 << bits) * 8);
    if (!uniq || (size > 2 && !slots)) {
        PyErr_NoMemory();
        goto done;
    }
    if (slots)
        memset(slots, 0xFF, ((size_t)1 << bits) * 8);
    if (size == 1 && is_signed) COUNT_LOOP(int8_t, FIND_NARROW)
    else if (size == 1) COUNT_LOOP(uint8_t, FIND_NARROW)
    else if (size == 2 && is_signed) COUNT_LOOP(int16_t, FIND_NARROW)
    else if (size == 2) COUNT_LOOP(uint16_t, FIND_NARROW)
    else if (size == 4 && is_signed) COUNT_LOOP(int32_t, FIND_HASHED)
    else if (size == 4) COUNT_LOOP(uint32_t, FIND_HASHED)
    else COUNT_LOOP(int64_t, FIND_HASHED)
    /* most common first, ties by first appearance (the order of uniq): a stable counting sort */
    int64_t top = 0;
    for (Py_ssize_t j = 0; j < n; j++)
        if (uniq[j].count > top)
            top = uniq[j].count;
    bucket = PyMem_RawCalloc((size_t)top + 2, sizeof(Py_ssize_t));
    sorted = PyMem_RawMalloc((n ? n : 1) * sizeof(ValueCount));
    if (!bucket || !sorted) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < n; j++) /* then bucket[k]: where the entries of count top - k go */
        bucket[top - uniq[j].count + 1]++;
    for (int64_t k = 1; k <= top + 1; k++)
        bucket[k] += bucket[k - 1];
    for (Py_ssize_t j = 0; j < n; j++)
        sorted[bucket[top - uniq[j].count]++] = uniq[j];
    rows_b = PyBytes_FromStringAndSize(NULL, n * 8);
    counts_b = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!rows_b || !counts_b)
        goto done;
    int64_t *rows = (int64_t *)PyBytes_AS_STRING(rows_b), *counts = (int64_t *)PyBytes_AS_STRING(counts_b);
    for (Py_ssize_t r = 0; r < n; r++) {
        rows[r] = sorted[r].first;
        counts[r] = sorted[r].count;
    }
    result = PyTuple_Pack(2, rows_b, counts_b);
done:
    if (size <= 2 && uniq) { /* the narrow table as it was: every entry -1 */
        for (Py_ssize_t j = 0; j < n; j++)
            narrow_slots[uniq[j].value + bias] = -1;
    }
    Py_XDECREF(rows_b);
    Py_XDECREF(counts_b);
    PyMem_RawFree(slots);
    PyMem_RawFree(uniq);
    PyMem_RawFree(bucket);
    PyMem_RawFree(sorted);
    PyBuffer_Release(&vv);
    return result;
}

/* -- flow_keys ------------------------------------------------------------------------- */

/* flow_keys(src, sport, dst, dport, udp, key, dirb, head, head_lo, head_hi) -> h
 *   src, dst: int64[m] address ids; sport, dport: uint16[m]; udp: 1-byte bools[m]. Out, m rows each:
 *   key: uint64, a flow key but for its address pair (udp << 32 | the lower endpoint's port << 16 |
 *   the higher one's; the lower endpoint: the lower address, or the lower port of one address);
 *   dirb: uint8, 1 where the source is the higher endpoint; head: int64, the h rows whose
 *   (lower, higher) address differ from the row before's (the first row too), and head_lo, head_hi
 *   (int64) those addresses: fastpath/flows.py's FlowTable.keys, which numbers the pairs. */
static PyObject *flow_keys(PyObject *self, PyObject *args) {
    PyObject *o[10];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &o[8], &o[9]))
        return NULL;
    static const Py_ssize_t size[10] = {8, 2, 8, 2, 1, 8, 1, 8, 8, 8};
    static const char *name[10] = {"src", "sport", "dst", "dport", "udp", "key", "dirb", "head", "head_lo", "head_hi"};
    Py_buffer v[10];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 10; got++)
        if (get_buf(o[got], &v[got], size[got], got >= 5, name[got]) < 0)
            goto done;
    Py_ssize_t m = v[0].len / 8;
    for (int j = 0; j < 10; j++)
        if (v[j].len / size[j] != m) {
            PyErr_SetString(PyExc_ValueError, "flow_keys: arrays of different lengths");
            goto done;
        }
    const int64_t *src = v[0].buf, *dst = v[2].buf;
    const uint16_t *sport = v[1].buf, *dport = v[3].buf;
    const uint8_t *udp = v[4].buf;
    uint64_t *key = v[5].buf;
    uint8_t *dirb = v[6].buf;
    int64_t *head = v[7].buf, *head_lo = v[8].buf, *head_hi = v[9].buf;
    Py_ssize_t h = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t last_lo = 0, last_hi = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        int s_lo = src[i] < dst[i] || (src[i] == dst[i] && sport[i] <= dport[i]);
        int64_t lo = s_lo ? src[i] : dst[i], hi = s_lo ? dst[i] : src[i];
        uint64_t lo_p = s_lo ? sport[i] : dport[i], hi_p = s_lo ? dport[i] : sport[i];
        key[i] = (uint64_t)(udp[i] != 0) << 32 | lo_p << 16 | hi_p;
        dirb[i] = !s_lo;
        if (i == 0 || lo != last_lo || hi != last_hi) {
            head[h] = i;
            head_lo[h] = lo;
            head_hi[h] = hi;
            h++;
            last_lo = lo;
            last_hi = hi;
        }
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(h);
done:
    for (int j = 0; j < got; j++)
        PyBuffer_Release(&v[j]);
    return result;
}

/* -- flow_places ------------------------------------------------------------------------ */

/* flow_places(fid, rank, state, n1, n2, complex_bit, g, was_complex, i0, i1, many) -> (k0, k1, k2)
 *   fid: int64[m] flow ids (each below len(state)); rank: uint8[m], how many earlier packets of the
 *   batch each one's flow had; state: uint8, the flows' state bits. Out, m rows each: g, uint8, each
 *   packet's place in its flow (its flow's packets before the batch, by the n1 and n2 bits, plus
 *   rank); was_complex, 1-byte bools (the complex_bit); and the rows, int64, of the flows' first
 *   packets (g 0, not complex: the first k0 of i0), their second ones (g 1, not complex: k1 of i1)
 *   and of every later one (g 2 and more: k2 of many). fastpath/flows.py's flow_places. */
static PyObject *flow_places(PyObject *self, PyObject *args) {
    PyObject *o[8];
    int n1, n2, cx;
    if (!PyArg_ParseTuple(args, "OOOiiiOOOOO", &o[0], &o[1], &o[2], &n1, &n2, &cx, &o[3], &o[4], &o[5], &o[6], &o[7]))
        return NULL;
    static const Py_ssize_t size[8] = {8, 1, 1, 1, 1, 8, 8, 8};
    static const char *name[8] = {"fid", "rank", "state", "g", "was_complex", "i0", "i1", "many"};
    Py_buffer v[8];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 8; got++)
        if (get_buf(o[got], &v[got], size[got], got >= 3, name[got]) < 0)
            goto done;
    Py_ssize_t m = v[0].len / 8, n = v[2].len;
    for (int j = 1; j < 8; j++)
        if (j != 2 && v[j].len / size[j] < m) {
            PyErr_SetString(PyExc_ValueError, "flow_places: arrays shorter than fid");
            goto done;
        }
    const int64_t *fid = v[0].buf;
    const uint8_t *rank = v[1].buf, *state = v[2].buf;
    uint8_t *g = v[3].buf, *wc = v[4].buf;
    int64_t *i0 = v[5].buf, *i1 = v[6].buf, *many = v[7].buf;
    Py_ssize_t k0 = 0, k1 = 0, k2 = 0, bad = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++) {
        if (fid[i] < 0 || fid[i] >= n) {
            bad = i;
            break;
        }
        uint8_t st = state[fid[i]];
        unsigned place = ((st & n1) != 0) + ((st & n2) != 0) + rank[i];
        uint8_t c = (st & cx) != 0;
        g[i] = (uint8_t)(place > 255 ? 255 : place);
        wc[i] = c;
        if (place >= 2)
            many[k2++] = i;
        else if (!c) {
            if (place == 0)
                i0[k0++] = i;
            else
                i1[k1++] = i;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_IndexError, "flow_places: flow id %lld of row %zd out of range",
                     (long long)fid[bad], bad);
        goto done;
    }
    result = Py_BuildValue("nnn", k0, k1, k2);
done:
    for (int j = 0; j < got; j++)
        PyBuffer_Release(&v[j]);
    return result;
}

/* -- previous_same ----------------------------------------------------------------------- */

/* previous_same(group, value, out) -> 0, or -1 (out undefined) where the columns are not
 * of the shape it serves: group int64[m] in ascending order, value int64[m] in 0..65535;
 * out int64[m]: for each row the last row before it of the same group and value, -1 if
 * none (sessions.split_runs' rule 3: an attempt's previous attempt to the same port in
 * its segment). One pass, each value's last row kept in a table of 65536 entries; the
 * sorting twin is sessions.previous_same. */
static PyObject *previous_same(PyObject *self, PyObject *args) {
    PyObject *group_o, *value_o, *out_o;
    if (!PyArg_ParseTuple(args, "OOO", &group_o, &value_o, &out_o))
        return NULL;
    Py_buffer gv, vv, ov;
    if (get_buf(group_o, &gv, 8, 0, "previous_same group") < 0)
        return NULL;
    if (get_buf(value_o, &vv, 8, 0, "previous_same value") < 0) {
        PyBuffer_Release(&gv);
        return NULL;
    }
    if (get_buf(out_o, &ov, 8, 1, "previous_same out") < 0) {
        PyBuffer_Release(&gv);
        PyBuffer_Release(&vv);
        return NULL;
    }
    PyObject *result = NULL;
    int64_t *last = NULL;
    Py_ssize_t m = gv.len / 8;
    const int64_t *group = gv.buf, *value = vv.buf;
    int64_t *out = ov.buf;
    if (vv.len / 8 != m || ov.len / 8 != m) {
        PyErr_SetString(PyExc_ValueError, "previous_same: columns differ in length");
        goto done;
    }
    last = PyMem_RawMalloc(65536 * sizeof(int64_t));
    if (!last) {
        PyErr_NoMemory();
        goto done;
    }
    memset(last, 0xFF, 65536 * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t v = value[i];
        if (v < 0 || v > 65535 || (i && group[i] < group[i - 1])) {
            result = PyLong_FromLong(-1);
            goto done;
        }
        int64_t j = last[v];
        out[i] = j >= 0 && group[j] == group[i] ? j : -1;
        last[v] = i;
    }
    result = PyLong_FromLong(0);
done:
    PyMem_RawFree(last);
    PyBuffer_Release(&gv);
    PyBuffer_Release(&vv);
    PyBuffer_Release(&ov);
    return result;
}

/* -- group_rows -------------------------------------------------------------------------- */

/* group_rows(keys, out, counts) -> 0, or -1 (out undefined) where a key is past
 * len(counts) or out's length is not the number of rows with a key: keys int32[m], a
 * row's key or -1 (no key: left out); out int32: the rows with a key grouped by key, keys
 * ascending, each key's rows ascending (a stable counting sort); counts int64[k] (zeroed
 * here): the rows of each key. fastpath/columns.group_rows' compiled half; its twin sorts. */
static PyObject *group_rows(PyObject *self, PyObject *args) {
    PyObject *keys_o, *out_o, *counts_o;
    if (!PyArg_ParseTuple(args, "OOO", &keys_o, &out_o, &counts_o))
        return NULL;
    Py_buffer kv, ov, cv;
    PyObject *result = NULL;
    int64_t *at = NULL;
    if (get_buf(keys_o, &kv, 4, 0, "group_rows keys") < 0)
        return NULL;
    if (get_buf(out_o, &ov, 4, 1, "group_rows out") < 0) {
        PyBuffer_Release(&kv);
        return NULL;
    }
    if (get_buf(counts_o, &cv, 8, 1, "group_rows counts") < 0) {
        PyBuffer_Release(&kv);
        PyBuffer_Release(&ov);
        return NULL;
    }
    Py_ssize_t m = kv.len / 4, k = cv.len / 8, kept = 0;
    const int32_t *keys = kv.buf;
    int32_t *out = ov.buf;
    int64_t *counts = cv.buf;
    if (m > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "group_rows: rows past int32");
        goto done;
    }
    memset(counts, 0, k * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < m; i++) {
        int32_t key = keys[i];
        if (key < 0)
            continue;
        if (key >= k) {
            result = PyLong_FromLong(-1);
            goto done;
        }
        counts[key]++;
        kept++;
    }
    if (kept != ov.len / 4) {
        result = PyLong_FromLong(-1);
        goto done;
    }
    at = PyMem_RawMalloc((k ? k : 1) * sizeof(int64_t));
    if (!at) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t sum = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        at[j] = sum;
        sum += counts[j];
    }
    for (Py_ssize_t i = 0; i < m; i++)
        if (keys[i] >= 0)
            out[at[keys[i]]++] = (int32_t)i;
    result = PyLong_FromLong(0);
done:
    PyMem_RawFree(at);
    PyBuffer_Release(&kv);
    PyBuffer_Release(&ov);
    PyBuffer_Release(&cv);
    return result;
}

/* -- lay_records ------------------------------------------------------------------------ */

static PyObject *lay_records(PyObject *self, PyObject *args) {
    PyObject *buf_o, *off_o, *incl_o, *heads_o, *out_o;
    Py_ssize_t hlen;
    if (!PyArg_ParseTuple(args, "OOOOnO", &buf_o, &off_o, &incl_o, &heads_o, &hlen, &out_o))
        return NULL;
    Py_buffer bv, v_off, v_incl, v_heads, v_out;
    if (PyObject_GetBuffer(buf_o, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    int got = 0;
    PyObject *result = NULL;
    if (get_buf(off_o, &v_off, 8, 0, "off") < 0)
        goto done;
    got++;
    if (get_buf(incl_o, &v_incl, 8, 0, "incl") < 0)
        goto done;
    got++;
    if (PyObject_GetBuffer(heads_o, &v_heads, PyBUF_SIMPLE) < 0)
        goto done;
    got++;
    if (PyObject_GetBuffer(out_o, &v_out, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
        goto done;
    got++;
    Py_ssize_t n = v_off.len / 8;
    if (v_incl.len / 8 != n || hlen < 0 || v_heads.len < n * hlen) {
        PyErr_SetString(PyExc_ValueError, "lay_records: arrays of different lengths");
        goto done;
    }
    const int64_t *off = v_off.buf, *incl = v_incl.buf;
    const uint8_t *buf = bv.buf, *heads = v_heads.buf;
    uint8_t *out = v_out.buf;
    Py_ssize_t p = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || incl[i] < 0 || off[i] + incl[i] > bv.len || p + hlen + incl[i] > v_out.len) {
            PyErr_SetString(PyExc_ValueError, "lay_records: a record outside its buffer, or no room for it");
            goto done;
        }
        memcpy(out + p, heads + i * hlen, (size_t)hlen);
        p += hlen;
        memcpy(out + p, buf + off[i], (size_t)incl[i]);
        p += incl[i];
    }
    result = PyLong_FromSsize_t(p);
done:
    if (got > 3)
        PyBuffer_Release(&v_out);
    if (got > 2)
        PyBuffer_Release(&v_heads);
    if (got > 1)
        PyBuffer_Release(&v_incl);
    if (got > 0)
        PyBuffer_Release(&v_off);
    PyBuffer_Release(&bv);
    return result;
}

/* -- records ----------------------------------------------------------------------------- */

/* records(cls, setters, values, n) -> [n new instances of cls], each field set by its
 * descriptor's __set__ (setters: one per field, a slot's member descriptor) to values[j][i]
 * where values[j] is a list (a column of n values), else to values[j] itself (a field's
 * default: a dataclass's defaults are never lists). The instances are made as object.__new__
 * makes them (cls->tp_alloc): a frozen dataclass's __init__ never runs. model.records'
 * compiled half; its twin is the function model._maker compiles. */
static PyObject *records(PyObject *self, PyObject *args) {
    PyTypeObject *cls;
    PyObject *setters, *values;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "O!O!O!n", &PyType_Type, &cls, &PyTuple_Type, &setters, &PyTuple_Type, &values, &n))
        return NULL;
    Py_ssize_t k = PyTuple_GET_SIZE(setters);
    if (PyTuple_GET_SIZE(values) != k || n < 0) {
        PyErr_SetString(PyExc_ValueError, "records: one value per setter, n >= 0");
        return NULL;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *d = PyTuple_GET_ITEM(setters, j), *v = PyTuple_GET_ITEM(values, j);
        if (!Py_TYPE(d)->tp_descr_set) {
            PyErr_SetString(PyExc_TypeError, "records: a setter is no data descriptor");
            return NULL;
        }
        if (PyList_CheckExact(v) && PyList_GET_SIZE(v) != n) {
            PyErr_SetString(PyExc_ValueError, "records: a column's length is not n");
            return NULL;
        }
    }
    PyObject *out = PyList_New(n);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = cls->tp_alloc(cls, 0);
        if (!obj)
            goto fail;
        PyList_SET_ITEM(out, i, obj);
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *d = PyTuple_GET_ITEM(setters, j), *v = PyTuple_GET_ITEM(values, j);
            if (Py_TYPE(d)->tp_descr_set(d, obj, PyList_CheckExact(v) ? PyList_GET_ITEM(v, i) : v) < 0)
                goto fail;
        }
    }
    return out;
fail:
    Py_DECREF(out); /* (the items not made yet are NULL: the list lets go of the others) */
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"records", records, METH_VARARGS,
     "records(cls, setters, values, n) -> [n instances of cls, fields set by setters] (see model.records)"},
    {"lay_records", lay_records, METH_VARARGS,
     "lay_records(buf, off, incl, heads, hlen, out) -> bytes written (see submissions.py's _lay_records)"},
    {"group_rows", group_rows, METH_VARARGS,
     "group_rows(keys, out, counts) -> 0, or -1 where it does not serve (see fastpath/columns.py)"},
    {"previous_same", previous_same, METH_VARARGS,
     "previous_same(group, value, out) -> 0, or -1 where it does not serve (see sessions.previous_same)"},
    {"count_values", count_values, METH_VARARGS,
     "count_values(values) -> (rows, counts): each distinct value's first row and count, most common first "
     "(see fingerprint.py's _count)"},
    {"format_rows", format_rows, METH_VARARGS,
     "format_rows(templates, which, cols, sep, extra[, out]) -> bytes, or the length written into out "
     "(see report/rowtext.py)"},
    {"dense_ids", dense_ids, METH_VARARGS, "dense_ids(packed, ids, limit) -> n or -1 (see fastpath/columns.py)"},
    {"walk_pcap", walk_pcap, METH_VARARGS,
     "walk_pcap(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac, sec_at, frac_at, incl_at)"
     " -> (n, pos, status, bad)"},
    {"flow_keys", flow_keys, METH_VARARGS,
     "flow_keys(src, sport, dst, dport, udp, key, dirb, head, head_lo, head_hi) -> h (see fastpath/flows.py's keys)"},
    {"flow_places", flow_places, METH_VARARGS,
     "flow_places(fid, rank, state, n1, n2, complex_bit, g, was_complex, i0, i1, many) -> (k0, k1, k2) "
     "(see fastpath/flows.py)"},
    {"lane_decode", lane_decode, METH_VARARGS,
     "lane_decode(buf, off, incl, linktype, status, fields, rules, bulk_protos, outs) -> count (see cnative.c)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pcapscan.cnative", NULL, -1, module_methods};

PyMODINIT_FUNC PyInit_cnative(void) {
    if (PyType_Ready(&FlowIndexType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&FlowIndexType);
    if (PyModule_AddObject(m, "FlowIndex", (PyObject *)&FlowIndexType) < 0) {
        Py_DECREF(&FlowIndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
