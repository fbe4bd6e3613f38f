/* aitrack.store._stage_pack: the row binding of import_staging.pack, and the usage sums of
 * its api_calls (sum_groups), in C.
 *
 * A worker packs each task's runs, tool calls and api_calls into an in-memory SQLite database
 * and hands it over serialized. Python's executemany spends about 3 us per 20-column row
 * binding values (a copy of every string) and keeping its cursor's books; SQLite's own insert
 * into an unindexed in-memory table is a tenth of that. This module opens its own in-memory
 * database through the SQLite library the process already loaded (Python's sqlite3 module
 * links it: the caller names its file), runs the statements it is given, binds each row's
 * values without copying them, and returns the serialized database.
 *
 * The specification is the Python path of import_staging.pack: the same statements on the
 * same library give the same tables. Values bind as Python's sqlite3 binds them: None NULL,
 * int (bool included) INTEGER (OverflowError beyond 64 bits), float REAL, str TEXT (UTF-8),
 * bytes BLOB; any other type is a TypeError, a row of the wrong length a ValueError.
 *
 * sum_groups sums each task's api_calls per bucket, session, model and provider for the stage's
 * usage table. SQLite's GROUP BY took a quarter of a task's packing (it sorts every row, then
 * steps each aggregate through its virtual machine); a hash of the groups takes a twentieth.
 * Its specification is import_staging._sum_groups_python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>

/* The SQLite C API this module calls (stable since 3.23), resolved from the loaded library. */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite3_int64;
#define SQLITE_OK 0
#define SQLITE_DONE 101
#define SQLITE_OPEN_READWRITE 0x00000002
#define SQLITE_OPEN_CREATE 0x00000004
#define SQLITE_OPEN_MEMORY 0x00000080
#define SQLITE_OPEN_NOMUTEX 0x00008000
#define SQLITE_STATIC ((void (*)(void *))0)

static struct {
    int (*open_v2)(const char *, sqlite3 **, int, const char *);
    int (*close)(sqlite3 *);
    int (*exec)(sqlite3 *, const char *, void *, void *, char **);
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_parameter_count)(sqlite3_stmt *);
    int (*bind_null)(sqlite3_stmt *, int);
    int (*bind_int64)(sqlite3_stmt *, int, sqlite3_int64);
    int (*bind_double)(sqlite3_stmt *, int, double);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*bind_blob)(sqlite3_stmt *, int, const void *, int, void (*)(void *));
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    const char *(*errmsg)(sqlite3 *);
    unsigned char *(*serialize)(sqlite3 *, const char *, sqlite3_int64 *, unsigned int);
    void (*free)(void *);
} api;
static PyObject *loaded_from; /* the library path api was resolved from, or NULL */

/* Resolve api from the SQLite library at path (once; another path is an error). */
static int load_api(PyObject *path) {
    if (loaded_from != NULL) {
        int same = PyObject_RichCompareBool(loaded_from, path, Py_EQ);
        if (same < 0)
            return -1;
        if (!same) {
            PyErr_Format(PyExc_RuntimeError, "SQLite already loaded from %R", loaded_from);
            return -1;
        }
        return 0;
    }
    const char *file = PyUnicode_AsUTF8(path);
    if (file == NULL)
        return -1;
    void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        PyErr_Format(PyExc_OSError, "cannot load SQLite from %s: %s", file, dlerror());
        return -1;
    }
    struct {
        void **slot;
        const char *name;
    } symbols[] = {
        {(void **)&api.open_v2, "sqlite3_open_v2"},
        {(void **)&api.close, "sqlite3_close"},
        {(void **)&api.exec, "sqlite3_exec"},
        {(void **)&api.prepare_v2, "sqlite3_prepare_v2"},
        {(void **)&api.bind_parameter_count, "sqlite3_bind_parameter_count"},
        {(void **)&api.bind_null, "sqlite3_bind_null"},
        {(void **)&api.bind_int64, "sqlite3_bind_int64"},
        {(void **)&api.bind_double, "sqlite3_bind_double"},
        {(void **)&api.bind_text, "sqlite3_bind_text"},
        {(void **)&api.bind_blob, "sqlite3_bind_blob"},
        {(void **)&api.step, "sqlite3_step"},
        {(void **)&api.reset, "sqlite3_reset"},
        {(void **)&api.finalize, "sqlite3_finalize"},
        {(void **)&api.errmsg, "sqlite3_errmsg"},
        {(void **)&api.serialize, "sqlite3_serialize"},
        {(void **)&api.free, "sqlite3_free"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (*symbols[i].slot == NULL) {
            PyErr_Format(PyExc_OSError, "%s has no %s", file, symbols[i].name);
            memset(&api, 0, sizeof api);
            dlclose(lib);
            return -1;
        }
    }
    Py_INCREF(path);
    loaded_from = path; /* the library stays loaded: Python's sqlite3 module holds it anyway */
    return 0;
}

static int sqlite_error(sqlite3 *db, const char *what) {
    PyErr_Format(PyExc_RuntimeError, "%s: %s", what, api.errmsg(db));
    return -1;
}

/* Run each statement of a list of str. */
static int exec_all(sqlite3 *db, PyObject *statements) {
    PyObject *seq = PySequence_Fast(statements, "statements must be a list of str");
    if (seq == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        const char *sql = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
        if (sql == NULL || (api.exec(db, sql, NULL, NULL, NULL) != SQLITE_OK &&
                            sqlite_error(db, sql) < 0)) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

/* Bind one value as Python's sqlite3 module would. The row keeps it (and its UTF-8) alive
 * until the step: no copy. */
static int bind_value(sqlite3_stmt *st, int i, PyObject *v) {
    int rc;
    if (v == Py_None) {
        rc = api.bind_null(st, i);
    } else if (PyLong_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to SQLite INTEGER");
            return -1;
        }
        if (x == -1 && PyErr_Occurred())
            return -1;
        rc = api.bind_int64(st, i, x);
    } else if (PyFloat_Check(v)) {
        rc = api.bind_double(st, i, PyFloat_AS_DOUBLE(v));
    } else if (PyUnicode_Check(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s == NULL)
            return -1;
        if (n > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "string longer than INT_MAX bytes");
            return -1;
        }
        rc = api.bind_text(st, i, s, (int)n, SQLITE_STATIC);
    } else if (PyBytes_Check(v)) {
        if (PyBytes_GET_SIZE(v) > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "bytes longer than INT_MAX");
            return -1;
        }
        rc = api.bind_blob(st, i, PyBytes_AS_STRING(v), (int)PyBytes_GET_SIZE(v), SQLITE_STATIC);
    } else {
        PyErr_Format(PyExc_TypeError, "cannot bind a value of type %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_RuntimeError, "binding parameter %d failed (SQLite code %d)", i, rc);
        return -1;
    }
    return 0;
}

/* Insert each row (a tuple) of rows with the statement sql. */
static int insert_rows(sqlite3 *db, PyObject *sql_obj, PyObject *rows) {
    const char *sql = PyUnicode_AsUTF8(sql_obj);
    if (sql == NULL)
        return -1;
    PyObject *seq = PySequence_Fast(rows, "rows must be a list of tuples");
    if (seq == NULL)
        return -1;
    sqlite3_stmt *st = NULL;
    int status = -1;
    if (api.prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite_error(db, sql);
        goto done;
    }
    Py_ssize_t width = api.bind_parameter_count(st);
    for (Py_ssize_t r = 0; r < PySequence_Fast_GET_SIZE(seq); r++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        if (!PyTuple_Check(row)) {
            PyErr_Format(PyExc_TypeError, "row %zd is a %.100s, not a tuple", r,
                         Py_TYPE(row)->tp_name);
            goto done;
        }
        if (PyTuple_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "row %zd has %zd values for %zd columns", r,
                         PyTuple_GET_SIZE(row), width);
            goto done;
        }
        for (Py_ssize_t i = 0; i < width; i++)
            if (bind_value(st, (int)i + 1, PyTuple_GET_ITEM(row, i)) < 0)
                goto done;
        if (api.step(st) != SQLITE_DONE) {
            sqlite_error(db, sql);
            goto done;
        }
        api.reset(st);
    }
    status = 0;
done:
    if (st != NULL)
        api.finalize(st);
    Py_DECREF(seq);
    return status;
}

PyDoc_STRVAR(pack_doc,
"pack(library, setup, inserts, finish) -> bytes\n\n"
"Open an in-memory SQLite database with the library at path `library`, run the `setup`\n"
"statements, insert each (sql, rows) of `inserts` (rows: a list of tuples), run the\n"
"`finish` statements and return the serialized database.");

static PyObject *pack(PyObject *self, PyObject *args) {
    PyObject *library, *setup, *inserts, *finish;
    if (!PyArg_ParseTuple(args, "UOOO:pack", &library, &setup, &inserts, &finish))
        return NULL;
    if (load_api(library) < 0)
        return NULL;
    sqlite3 *db = NULL;
    PyObject *result = NULL, *seq = NULL;
    if (api.open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                    SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        PyErr_SetString(PyExc_MemoryError, "cannot open an in-memory SQLite database");
        goto done;
    }
    if (exec_all(db, setup) < 0)
        goto done;
    seq = PySequence_Fast(inserts, "inserts must be a list of (sql, rows)");
    if (seq == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "inserts must be a list of (sql, rows)");
            goto done;
        }
        if (insert_rows(db, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1)) < 0)
            goto done;
    }
    if (exec_all(db, finish) < 0)
        goto done;
    sqlite3_int64 size = -1;
    unsigned char *image = api.serialize(db, "main", &size, 0);
    if (image == NULL && size == 0) { /* a database with no page */
        result = PyBytes_FromStringAndSize(NULL, 0);
        goto done;
    }
    if (image == NULL) {
        PyErr_SetString(PyExc_MemoryError, "cannot serialize the stage database");
        goto done;
    }
    result = PyBytes_FromStringAndSize((const char *)image, (Py_ssize_t)size);
    api.free(image);
done:
    Py_XDECREF(seq);
    if (db != NULL)
        api.close(db);
    return result;
}

/* One group of sum_groups: its row count, then per summed column the integer sum, the float
 * sum, whether a float took part and how many values were not None. */
typedef struct {
    long long isum;
    double rsum;
    int approx;
    long long nonnull;
} column_sum;

/* Add value v to sum c as SQLite's sum() would: None skipped, ints summed exactly (an
 * OverflowError past 64 bits, where SQLite reports an overflow too), every value also summed
 * as a float, which is the result once a float took part. */
static int add_value(column_sum *c, PyObject *v) {
    if (v == Py_None)
        return 0;
    if (PyLong_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred()) ||
            __builtin_add_overflow(c->isum, x, &c->isum)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_OverflowError, "integer overflow in a sum");
            return -1;
        }
        c->rsum += (double)x;
    } else if (PyFloat_Check(v)) {
        c->rsum += PyFloat_AS_DOUBLE(v);
        c->approx = 1;
    } else {
        PyErr_Format(PyExc_TypeError, "cannot sum a value of type %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    c->nonnull++;
    return 0;
}

PyDoc_STRVAR(sum_groups_doc,
"sum_groups(rows, key_columns, bucket_ms, sum_columns) -> list[tuple]\n\n"
"Group rows (tuples) by their values in key_columns, the first of them an int cut into\n"
"buckets where bucket_ms is not 0 (divided by bucket_ms, truncated toward zero as SQLite\n"
"divides). One tuple per\n"
"group, in the order groups first appear: the key, the number of rows, each of sum_columns'\n"
"sums as SQLite's sum() gives it (None where every value is None; a float once a float\n"
"took part), then each one's number of values that are not None.");

static PyObject *sum_groups(PyObject *self, PyObject *args) {
    PyObject *rows, *key_obj, *sum_obj;
    long long bucket_ms;
    if (!PyArg_ParseTuple(args, "OOLO:sum_groups", &rows, &key_obj, &bucket_ms, &sum_obj))
        return NULL;
    if (bucket_ms < 0) {
        PyErr_SetString(PyExc_ValueError, "bucket_ms must not be negative");
        return NULL;
    }
    PyObject *seq = NULL, *keys = NULL, *sums = NULL, *index = NULL, *order = NULL;
    PyObject *result = NULL;
    column_sum *acc = NULL;
    long long *counts = NULL;
    Py_ssize_t n_groups = 0, capacity = 0;
    if (!(seq = PySequence_Fast(rows, "rows must be a list of tuples")) ||
        !(keys = PySequence_Fast(key_obj, "key_columns must be a sequence of ints")) ||
        !(sums = PySequence_Fast(sum_obj, "sum_columns must be a sequence of ints")) ||
        !(index = PyDict_New()) || !(order = PyList_New(0)))
        goto done;
    Py_ssize_t nk = PySequence_Fast_GET_SIZE(keys), ns = PySequence_Fast_GET_SIZE(sums);
    if (nk < 1) {
        PyErr_SetString(PyExc_ValueError, "key_columns must name at least one column");
        goto done;
    }
    Py_ssize_t kc[16], sc[32];
    if (nk > 16 || ns > 32) {
        PyErr_SetString(PyExc_ValueError, "at most 16 key columns and 32 summed columns");
        goto done;
    }
    Py_ssize_t width = 0; /* the shortest row this needs */
    for (Py_ssize_t i = 0; i < nk + ns; i++) {
        PyObject *c = PySequence_Fast_GET_ITEM(i < nk ? keys : sums, i < nk ? i : i - nk);
        Py_ssize_t col = PyNumber_AsSsize_t(c, PyExc_OverflowError);
        if (col == -1 && PyErr_Occurred())
            goto done;
        if (col < 0) {
            PyErr_SetString(PyExc_ValueError, "column numbers must not be negative");
            goto done;
        }
        if (i < nk)
            kc[i] = col;
        else
            sc[i - nk] = col;
        if (col + 1 > width)
            width = col + 1;
    }
    for (Py_ssize_t r = 0; r < PySequence_Fast_GET_SIZE(seq); r++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) < width) {
            PyErr_Format(PyExc_TypeError, "row %zd is not a tuple of at least %zd values", r,
                         width);
            goto done;
        }
        PyObject *first = PyTuple_GET_ITEM(row, kc[0]);
        if (bucket_ms > 0) {
            long long ts = PyLong_AsLongLong(first);
            if (ts == -1 && PyErr_Occurred())
                goto done;
            first = PyLong_FromLongLong(ts / bucket_ms); /* C truncates, as SQLite */
            if (first == NULL)
                goto done;
        } else {
            Py_INCREF(first);
        }
        PyObject *key = PyTuple_New(nk);
        if (key == NULL) {
            Py_DECREF(first);
            goto done;
        }
        PyTuple_SET_ITEM(key, 0, first);
        for (Py_ssize_t i = 1; i < nk; i++) {
            PyObject *v = PyTuple_GET_ITEM(row, kc[i]);
            Py_INCREF(v);
            PyTuple_SET_ITEM(key, i, v);
        }
        PyObject *found = PyDict_GetItemWithError(index, key);
        Py_ssize_t g;
        if (found != NULL) {
            g = PyLong_AsSsize_t(found);
            Py_DECREF(key);
        } else if (PyErr_Occurred()) { /* an unhashable key value */
            Py_DECREF(key);
            goto done;
        } else {
            g = n_groups++;
            if (n_groups > capacity) {
                capacity = capacity ? 2 * capacity : 64;
                column_sum *a = PyMem_Realloc(acc, (size_t)capacity * (size_t)ns * sizeof *a + 1);
                long long *c = PyMem_Realloc(counts, (size_t)capacity * sizeof *c);
                if (a != NULL)
                    acc = a;
                if (c != NULL)
                    counts = c;
                if (a == NULL || c == NULL) {
                    Py_DECREF(key);
                    PyErr_NoMemory();
                    goto done;
                }
            }
            memset(acc + g * ns, 0, (size_t)ns * sizeof *acc);
            counts[g] = 0;
            PyObject *number = PyLong_FromSsize_t(g);
            int failed = number == NULL || PyDict_SetItem(index, key, number) < 0 ||
                         PyList_Append(order, key) < 0;
            Py_XDECREF(number);
            Py_DECREF(key);
            if (failed)
                goto done;
        }
        counts[g]++;
        for (Py_ssize_t i = 0; i < ns; i++)
            if (add_value(acc + g * ns + i, PyTuple_GET_ITEM(row, sc[i])) < 0)
                goto done;
    }
    result = PyList_New(n_groups);
    if (result == NULL)
        goto done;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *key = PyList_GET_ITEM(order, g);
        PyObject *out = PyTuple_New(nk + 1 + 2 * ns);
        if (out == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, g, out);
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *v = PyTuple_GET_ITEM(key, i);
            Py_INCREF(v);
            PyTuple_SET_ITEM(out, i, v);
        }
        PyObject *v = PyLong_FromLongLong(counts[g]);
        if (v == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(out, nk, v);
        for (Py_ssize_t i = 0; i < ns; i++) {
            column_sum *c = acc + g * ns + i;
            PyObject *sum;
            if (c->nonnull == 0) {
                sum = Py_None;
                Py_INCREF(sum);
            } else {
                sum = c->approx ? PyFloat_FromDouble(c->rsum) : PyLong_FromLongLong(c->isum);
            }
            PyObject *nonnull = PyLong_FromLongLong(c->nonnull);
            if (sum == NULL || nonnull == NULL) {
                Py_XDECREF(sum);
                Py_XDECREF(nonnull);
                Py_CLEAR(result);
                goto done;
            }
            PyTuple_SET_ITEM(out, nk + 1 + i, sum);
            PyTuple_SET_ITEM(out, nk + 1 + ns + i, nonnull);
        }
    }
done:
    PyMem_Free(acc);
    PyMem_Free(counts);
    Py_XDECREF(seq);
    Py_XDECREF(keys);
    Py_XDECREF(sums);
    Py_XDECREF(index);
    Py_XDECREF(order);
    return result;
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_VARARGS, pack_doc},
    {"sum_groups", sum_groups, METH_VARARGS, sum_groups_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_stage_pack",
    "import_staging.pack's row binding and usage sums in C (see _stage_pack.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__stage_pack(void) { return PyModule_Create(&module); }
