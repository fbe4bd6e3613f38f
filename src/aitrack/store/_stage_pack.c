/* aitrack.store._stage_pack: import_staging.pack in C. `build` writes a stage image's pages
 * directly (see its section below); `pack`, the row binder here, makes the images `build`
 * cannot (a row over a page); `sum_groups` sums the stage's api_calls for its usage tables.
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

/* An int (bool included) as SQLite's 64-bit INTEGER, as Python's sqlite3 converts it. */
static int int64_of(PyObject *v, long long *x) {
    int overflow = 0;
    *x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to SQLite INTEGER");
        return -1;
    }
    return *x == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Bind one value as Python's sqlite3 module would. The row keeps it (and its UTF-8) alive
 * until the step: no copy. */
static int bind_value(sqlite3_stmt *st, int i, PyObject *v) {
    int rc;
    if (v == Py_None) {
        rc = api.bind_null(st, i);
    } else if (PyLong_Check(v)) {
        long long x;
        if (int64_of(v, &x) < 0)
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

/* ---- build: the stage image written directly in SQLite's file format ------------------------
 *
 * Binding each row into SQLite was most of a worker's packing (about 1 CPU-s per GB): each
 * insert goes through the virtual machine, the pager and the b-tree balancer. The stage is
 * written once and read once, every table in rowid order, so its pages can be laid out
 * directly: a record per row, cells packed into leaf pages in rowid order, interior pages
 * above them, the tables' root pages right after page 1 (as SQLite allocates them for the same
 * CREATE TABLE statements on an empty database). The specification is the same tables made by
 * SQLite from the same rows (`pack`): tests compare every value and its type, and SQLite's own
 * integrity check. A row too large for one page (an overflow chain) is not laid out here: the
 * caller then packs with `pack`. */

#define PAGE 4096
#define MAX_LOCAL (PAGE - 35) /* a table leaf's largest payload kept on its page */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Bytes;

static int bytes_grow(Bytes *b, size_t more) {
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int varint_len(unsigned long long v) {
    int n = 1;
    if (v > 0x00ffffffffffffffULL)
        return 9;
    while (v >>= 7)
        n++;
    return n;
}

/* SQLite's varint: big-endian groups of 7 bits, the high bit set on all but the last (the
 * ninth byte, if any, holds 8 bits). Returns its length. */
static int put_varint(unsigned char *out, unsigned long long v) {
    if (v > 0x00ffffffffffffffULL) {
        out[8] = (unsigned char)v;
        v >>= 8;
        for (int i = 7; i >= 0; i--) {
            out[i] = (unsigned char)((v & 0x7f) | 0x80);
            v >>= 7;
        }
        return 9;
    }
    unsigned char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | 0x80);
        v >>= 7;
    } while (v);
    tmp[0] &= 0x7f;
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void put_be(unsigned char *out, unsigned long long v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* A value's serial type and body (as SQLite's record format, schema format 4): NULL 0; ints
 * 8 (0) and 9 (1), else the fewest of 1, 2, 3, 4, 6 or 8 bytes; REAL 7 (a NaN is NULL, as
 * sqlite3_bind_double makes it); TEXT 13 + 2n (UTF-8); BLOB 12 + 2n. */
typedef struct {
    unsigned long long type;
    int size;               /* body bytes */
    long long i;            /* an int, or a float's bits */
    const unsigned char *s; /* text or blob bytes */
} Field;

static int field_of(PyObject *v, Field *f) {
    f->s = NULL;
    if (v == Py_None) {
        f->type = 0, f->size = 0;
    } else if (PyLong_Check(v)) {
        long long x;
        if (int64_of(v, &x) < 0)
            return -1;
        f->i = x;
        if (x == 0 || x == 1)
            f->type = 8 + (unsigned long long)x, f->size = 0;
        else if (x >= -128 && x <= 127)
            f->type = 1, f->size = 1;
        else if (x >= -32768 && x <= 32767)
            f->type = 2, f->size = 2;
        else if (x >= -8388608 && x <= 8388607)
            f->type = 3, f->size = 3;
        else if (x >= -2147483648LL && x <= 2147483647LL)
            f->type = 4, f->size = 4;
        else if (x >= -140737488355328LL && x <= 140737488355327LL)
            f->type = 5, f->size = 6;
        else
            f->type = 6, f->size = 8;
    } else if (PyFloat_Check(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        if (d != d) {
            f->type = 0, f->size = 0;
        } else {
            memcpy(&f->i, &d, 8);
            f->type = 7, f->size = 8;
        }
    } else if (PyUnicode_Check(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s == NULL)
            return -1;
        /* a size past one page only sends the table back to `pack` */
        f->type = 13 + 2 * (unsigned long long)n, f->size = (int)(n > INT_MAX ? INT_MAX : n);
        f->s = (const unsigned char *)s;
    } else if (PyBytes_Check(v)) {
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        f->type = 12 + 2 * (unsigned long long)n, f->size = (int)(n > INT_MAX ? INT_MAX : n);
        f->s = (const unsigned char *)PyBytes_AS_STRING(v);
    } else {
        PyErr_Format(PyExc_TypeError, "cannot bind a value of type %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    return 0;
}

/* A record header's size: the serial types' bytes plus its own varint. */
static size_t header_size(size_t types) {
    size_t h = types + 1;
    while (types + (size_t)varint_len(h) != h)
        h = types + (size_t)varint_len(h);
    return h;
}

/* Write the record of fields into out (room for it checked by the caller); its length. */
static size_t put_record(unsigned char *out, const Field *f, Py_ssize_t n, size_t header) {
    unsigned char *p = out + put_varint(out, header);
    for (Py_ssize_t i = 0; i < n; i++)
        p += put_varint(p, f[i].type);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (f[i].type >= 12) {
            memcpy(p, f[i].s, (size_t)f[i].size);
        } else if (f[i].size) {
            put_be(p, (unsigned long long)f[i].i, f[i].size);
        }
        p += f[i].size;
    }
    return (size_t)(p - out);
}

/* The table-leaf cell of a row (payload size, rowid, record) written into out; its length,
 * or 0 (nothing written) where the payload would not fit on one page. out holds a page. */
static size_t put_cell(unsigned char *out, const Field *f, Py_ssize_t n, long long rowid) {
    size_t types = 0, body = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        types += (size_t)varint_len(f[i].type);
        body += (size_t)f[i].size;
    }
    size_t header = header_size(types), payload = header + body;
    if (body > MAX_LOCAL || payload > MAX_LOCAL)
        return 0;
    size_t len = (size_t)put_varint(out, payload);
    len += (size_t)put_varint(out + len, (unsigned long long)rowid);
    return len + put_record(out + len, f, n, header);
}

/* A b-tree page being filled: cells stored from the end down, pointers from the header up. */
typedef struct {
    unsigned char page[PAGE];
    int hdr;        /* offset of the b-tree page header (100 on page 1) */
    int interior;   /* 12-byte header, else 8 */
    int cells;
    int content;    /* start of the cell content area */
    long long last; /* the largest rowid under this page */
} Node;

static void node_init(Node *n, int hdr, int interior) {
    memset(n->page, 0, PAGE);
    n->hdr = hdr;
    n->interior = interior;
    n->cells = 0;
    n->content = PAGE;
    n->last = 0;
}

static int node_fits(const Node *n, size_t cell) {
    int top = n->hdr + (n->interior ? 12 : 8) + 2 * (n->cells + 1);
    return (long)n->content - (long)cell >= top;
}

static void node_add(Node *n, const unsigned char *cell, size_t len) {
    n->content -= (int)len;
    memcpy(n->page + n->content, cell, len);
    put_be(n->page + n->hdr + (n->interior ? 12 : 8) + 2 * n->cells, (unsigned)n->content, 2);
    n->cells++;
}

static void node_finish(Node *n, unsigned right) {
    unsigned char *h = n->page + n->hdr;
    h[0] = n->interior ? 0x05 : 0x0D;
    put_be(h + 3, (unsigned)n->cells, 2);
    put_be(h + 5, (unsigned)(n->content == 65536 ? 0 : n->content), 2);
    if (n->interior)
        put_be(h + 8, right, 4);
}

/* Pages of the file after the roots, and where each finished page goes. */
typedef struct {
    Bytes file; /* every page, page 1 first */
    unsigned pages;
} Image;

static unsigned image_add(Image *im, const unsigned char *page) {
    if (bytes_grow(&im->file, PAGE) < 0)
        return 0;
    memcpy(im->file.p + im->file.len, page, PAGE);
    im->file.len += PAGE;
    return ++im->pages;
}

/* Lay out one table: its leaves appended, interior levels above, the top node written at its
 * root page. 1 done, 0 a row too large for one page, -1 an error. */
static int build_table(Image *im, unsigned root, PyObject *rows, Py_ssize_t width) {
    PyObject *seq = PySequence_Fast(rows, "rows must be a list of tuples");
    if (seq == NULL)
        return -1;
    Field *fields = PyMem_Malloc(sizeof(Field) * (size_t)(width ? width : 1));
    Node *node = PyMem_Malloc(sizeof(Node));
    unsigned char *cell = PyMem_Malloc(PAGE * 2);
    unsigned *kids = NULL;      /* pages of the level being built */
    long long *kid_last = NULL; /* their largest rowids */
    size_t n_kids = 0, cap = 0;
    int status = -1;
    if (fields == NULL || node == NULL || cell == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    node_init(node, 0, 0);
#define PUSH_KID(page_no, last_rowid)                                                           \
    do {                                                                                       \
        if (n_kids == cap) {                                                                   \
            cap = cap ? 2 * cap : 256;                                                         \
            unsigned *k = PyMem_Realloc(kids, cap * sizeof *k);                                \
            long long *l = PyMem_Realloc(kid_last, cap * sizeof *l);                           \
            if (k) kids = k;                                                                   \
            if (l) kid_last = l;                                                               \
            if (!k || !l) { PyErr_NoMemory(); goto done; }                                      \
        }                                                                                      \
        kids[n_kids] = (page_no);                                                              \
        kid_last[n_kids++] = (last_rowid);                                                     \
    } while (0)
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        if (!PyTuple_Check(row)) {
            PyErr_Format(PyExc_TypeError, "row %zd is a %.100s, not a tuple", r, Py_TYPE(row)->tp_name);
            goto done;
        }
        if (PyTuple_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "row %zd has %zd values for %zd columns", r,
                         PyTuple_GET_SIZE(row), width);
            goto done;
        }
        for (Py_ssize_t i = 0; i < width; i++)
            if (field_of(PyTuple_GET_ITEM(row, i), &fields[i]) < 0)
                goto done;
        long long rowid = r + 1;
        size_t len = put_cell(cell, fields, width, rowid);
        if (len == 0) { /* an overflow chain: not laid out here */
            status = 0;
            goto done;
        }
        if (!node_fits(node, len)) { /* this leaf is full: it goes after the pages so far */
            node_finish(node, 0);
            unsigned page_no = image_add(im, node->page);
            if (!page_no)
                goto done;
            PUSH_KID(page_no, node->last);
            node_init(node, 0, 0);
        }
        node_add(node, cell, len);
        node->last = rowid;
    }
    node_finish(node, 0);
    if (n_kids == 0) { /* one leaf: the root itself */
        memcpy(im->file.p + (size_t)(root - 1) * PAGE, node->page, PAGE);
        status = 1;
        goto done;
    }
    {
        unsigned page_no = image_add(im, node->page);
        if (!page_no)
            goto done;
        PUSH_KID(page_no, node->last);
    }
    for (;;) { /* interior levels: each node has at least 2 children, the last its right one */
        unsigned *level = kids;
        long long *level_last = kid_last;
        size_t count = n_kids;
        kids = NULL, kid_last = NULL, n_kids = 0, cap = 0;
        /* a child's cell is at most 13 bytes and a 2-byte pointer: 272 always fit */
        size_t per_node = (PAGE - 12) / 15, nodes = (count + per_node - 1) / per_node;
        for (size_t g = 0, k = 0; g < nodes; g++) {
            size_t take = count / nodes + (g < count % nodes);
            node_init(node, 0, 1);
            for (size_t j = 0; j + 1 < take; j++, k++) {
                put_be(cell, level[k], 4);
                size_t clen = 4 + (size_t)put_varint(cell + 4, (unsigned long long)level_last[k]);
                node_add(node, cell, clen);
            }
            node->last = level_last[k];
            node_finish(node, level[k]);
            k++;
            if (nodes == 1) { /* the top: written at the root */
                memcpy(im->file.p + (size_t)(root - 1) * PAGE, node->page, PAGE);
                PyMem_Free(level);
                PyMem_Free(level_last);
                status = 1;
                goto done;
            }
            unsigned page_no = image_add(im, node->page);
            if (!page_no) {
                PyMem_Free(level);
                PyMem_Free(level_last);
                goto done;
            }
            PUSH_KID(page_no, node->last);
        }
        PyMem_Free(level);
        PyMem_Free(level_last);
    }
#undef PUSH_KID
done:
    PyMem_Free(fields);
    PyMem_Free(node);
    PyMem_Free(cell);
    PyMem_Free(kids);
    PyMem_Free(kid_last);
    Py_DECREF(seq);
    return status;
}

PyDoc_STRVAR(build_doc,
"build(tables) -> bytes | None\n\n"
"The SQLite database (4096-byte pages, UTF-8, schema format 4) that CREATE TABLE of each of\n"
"`tables` ((create_sql, name, width, rows) each, in order, on an empty database) and an\n"
"INSERT of each row (rowids 1, 2, ... in order) would hold, written directly. None when a row\n"
"does not fit on one page (an overflow chain): pack those with `pack`.");

static PyObject *build(PyObject *self, PyObject *args) {
    PyObject *tables;
    if (!PyArg_ParseTuple(args, "O:build", &tables))
        return NULL;
    PyObject *seq = PySequence_Fast(tables, "tables must be a list of (sql, name, width, rows)");
    if (seq == NULL)
        return NULL;
    Py_ssize_t nt = PySequence_Fast_GET_SIZE(seq);
    Image im = {{NULL, 0, 0}, 0};
    Node *schema = PyMem_Malloc(sizeof(Node));
    unsigned char *cell = PyMem_Malloc(PAGE * 2);
    PyObject *result = NULL;
    if (schema == NULL || cell == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* page 1 and the roots first, in the order SQLite allocates them */
    unsigned char blank[PAGE] = {0};
    for (Py_ssize_t t = 0; t <= nt; t++)
        if (!image_add(&im, blank))
            goto done;
    node_init(schema, 100, 0);
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, t);
        PyObject *sql, *name, *rows;
        Py_ssize_t width;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UUnO", &sql, &name, &width, &rows)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "tables must be a list of (sql, name, width, rows)");
            goto done;
        }
        unsigned root = (unsigned)(t + 2);
        int built = build_table(&im, root, rows, width);
        if (built < 0)
            goto done;
        if (built == 0) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        /* its sqlite_schema row: ('table', name, name, root, sql) */
        Field f[5];
        PyObject *type = PyUnicode_FromString("table"), *rootpage = PyLong_FromUnsignedLong(root);
        if (type == NULL || rootpage == NULL) {
            Py_XDECREF(type);
            Py_XDECREF(rootpage);
            goto done;
        }
        int bad = field_of(type, &f[0]) < 0 || field_of(name, &f[1]) < 0 ||
                  field_of(name, &f[2]) < 0 || field_of(rootpage, &f[3]) < 0 ||
                  field_of(sql, &f[4]) < 0;
        size_t len = bad ? 0 : put_cell(cell, f, 5, t + 1);
        Py_DECREF(type);
        Py_DECREF(rootpage);
        if (bad)
            goto done;
        if (len == 0 || !node_fits(schema, len)) {
            PyErr_SetString(PyExc_ValueError, "the schema does not fit on page 1");
            goto done;
        }
        node_add(schema, cell, len);
    }
    node_finish(schema, 0);
    memcpy(im.file.p + 100, schema->page + 100, PAGE - 100);
    /* the database header */
    unsigned char *h = im.file.p;
    memcpy(h, "SQLite format 3", 16);
    put_be(h + 16, PAGE, 2);
    h[18] = 1, h[19] = 1, h[20] = 0, h[21] = 64, h[22] = 32, h[23] = 32;
    /* the change counter, version-valid-for and SQLite version stay 0, as in the image
     * sqlite3_serialize makes of an in-memory database: the size in pages is valid */
    put_be(h + 28, im.pages, 4);     /* size in pages */
    put_be(h + 40, (unsigned)nt, 4); /* schema cookie: one per CREATE TABLE */
    put_be(h + 44, 4, 4);            /* schema format */
    put_be(h + 56, 1, 4);            /* UTF-8 */
    result = PyBytes_FromStringAndSize((const char *)im.file.p, (Py_ssize_t)im.file.len);
done:
    PyMem_Free(im.file.p);
    PyMem_Free(schema);
    PyMem_Free(cell);
    Py_DECREF(seq);
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
    {"build", build, METH_VARARGS, build_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_stage_pack",
    "import_staging.pack's row binding and usage sums in C (see _stage_pack.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__stage_pack(void) { return PyModule_Create(&module); }
