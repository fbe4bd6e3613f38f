/* aitrack.importing._ulids: importing/transcripts.py's _ulids_python, in C.
 *
 * A cold import gives each of its hundreds of thousands of runs, tool calls and api_calls a
 * ULID from the row's time. The Python version builds each from six string pieces (0.8 us
 * an id); this one writes the 26 characters straight into a new str.
 *
 * ulids(times, random) -> list[str]: for each time t (an int of at most 64 bits) the 10
 * characters of its low 50 bits in Crockford's base32, then 16 characters, one for each
 * byte of its 16 in `random` (bytes of 16 * len(times)), that byte's low 5 bits. The same
 * inputs give exactly what _ulids_python gives.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* as aitrack.ids */

static PyObject *ulids(PyObject *self, PyObject *args) {
    PyObject *times;
    Py_buffer random;
    if (!PyArg_ParseTuple(args, "Oy*:ulids", &times, &random))
        return NULL;
    PyObject *seq = PySequence_Fast(times, "times must be a sequence of int");
    PyObject *out = NULL;
    if (seq == NULL)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (random.len != 16 * n) {
        PyErr_Format(PyExc_ValueError, "%zd random bytes for %zd ids (16 each)", random.len, n);
        goto done;
    }
    const unsigned char *rnd = random.buf;
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *t = PySequence_Fast_GET_ITEM(seq, k);
        if (!PyLong_Check(t)) {
            PyErr_Format(PyExc_TypeError, "time %zd is a %.100s, not an int", k,
                         Py_TYPE(t)->tp_name);
            goto fail;
        }
        /* the low 64 bits of t in two's complement, as Python's & sees a negative int */
        unsigned long long bits = PyLong_AsUnsignedLongLongMask(t);
        if (bits == (unsigned long long)-1 && PyErr_Occurred())
            goto fail;
        PyObject *id = PyUnicode_New(26, 127);
        if (id == NULL)
            goto fail;
        Py_UCS1 *c = PyUnicode_1BYTE_DATA(id);
        for (int i = 9; i >= 0; i--, bits >>= 5)
            c[i] = ALPHABET[bits & 31];
        for (int i = 0; i < 16; i++)
            c[10 + i] = ALPHABET[rnd[16 * k + i] & 31];
        PyList_SET_ITEM(out, k, id);
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_XDECREF(seq);
    PyBuffer_Release(&random);
    return out;
}

static PyMethodDef methods[] = {
    {"ulids", ulids, METH_VARARGS, "ulids(times, random) -> list of ULIDs (see _ulids.c)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ulids", "transcripts._ulids_python in C (see _ulids.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__ulids(void) { return PyModule_Create(&module); }
