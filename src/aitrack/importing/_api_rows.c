/* aitrack.importing._api_rows: importing/transcripts.py's _api_rows_python, in C.
 *
 * A cold import turns each of its hundreds of thousands of API responses into a priced row.
 * In Python that took about 2 us a row (a tuple of the pricing fields, the plan lookup, the
 * cost, the 20-field row), a tenth of the workers' time. This module builds the same rows and
 * computes the same costs: to the bit, since it evaluates the plan's formula as Python does.
 *
 * api_rows(calls, call_ids, run_of, pricer, fallback) -> list[tuple]
 *   calls: ApiCallRecord field tuples (agent, provider, dedup_key, session ext, run ext, ts,
 *   model, input, output, cache read, write 5m, write 1h, reasoning, request id, message id,
 *   sidechain, synthetic, speed); call_ids: one str each; run_of: dict (session ext, run ext)
 *   -> run id; pricer: an aitrack.pricing.BulkPricer. For each run of rows of one provider,
 *   model, UTC day and mode it asks pricer.linear_plan once; rows its plan cannot price
 *   (no linear plan, reasoning over output, a negative count, a sum past 2**53) get
 *   pricer.cost, as BulkPricer.costs gives them; a row with a number that is not an int of
 *   at most 64 bits goes whole to fallback([call], [call_id], run_of, pricer)[0], the
 *   Python specification.
 *
 * A plan's coefficients are all ints (genai-prices' prices over a common denominator: the
 * cost is the exact integer sum over the denominator, one correctly rounded division) or
 * all floats (a user's prices: Python sums the products left to right in doubles). This file
 * is compiled without contracting a*b+c into one rounding (setup.py: -ffp-contract=off).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define DAY_MS 86400000LL
#define MAX_TIERS 8
#define EXACT (1LL << 53) /* ints up to this convert to doubles exactly */

typedef struct {
    int ok;            /* a plan this file can evaluate */
    int is_float;      /* coefficients are floats (else ints) */
    long long ci[MAX_TIERS + 1][7];
    double cf[MAX_TIERS + 1][7];
    long long start[MAX_TIERS + 1]; /* tier k applies when total input > start[k], k >= 1 */
    int n_tiers;
    long long den_i;
    double den_f;
    PyObject *source; /* borrowed from the plan, which the pricer keeps */
} plan_t;

/* Read 7 coefficients of one regime: all ints (of 64 bits) or all floats, as kind asks. */
static int read_coefficients(PyObject *seq_obj, plan_t *p, int k) {
    PyObject *seq = PySequence_Fast(seq_obj, "coefficients must be a sequence");
    if (seq == NULL)
        return -1;
    int ok = PySequence_Fast_GET_SIZE(seq) == 7;
    for (Py_ssize_t j = 0; ok && j < 7; j++) {
        PyObject *c = PySequence_Fast_GET_ITEM(seq, j);
        if (p->is_float) {
            ok = PyFloat_CheckExact(c);
            if (ok)
                p->cf[k][j] = PyFloat_AS_DOUBLE(c);
        } else {
            int overflow = 0;
            ok = PyLong_CheckExact(c);
            if (ok) {
                p->ci[k][j] = PyLong_AsLongLongAndOverflow(c, &overflow);
                ok = !overflow && !(p->ci[k][j] == -1 && PyErr_Occurred());
            }
        }
    }
    Py_DECREF(seq);
    PyErr_Clear();
    return ok ? 0 : 1;
}

/* Decode a BulkPricer linear plan (or None) into p; p->ok 0 where it is not one this file
 * evaluates exactly as Python would (the rows then get pricer.cost). */
static int decode_plan(PyObject *plan, plan_t *p) {
    p->ok = 0;
    if (plan == Py_None)
        return 0;
    PyObject *base = PyObject_GetAttrString(plan, "base");
    PyObject *tiers = PyObject_GetAttrString(plan, "tiers");
    PyObject *den = PyObject_GetAttrString(plan, "denominator");
    PyObject *source = PyObject_GetAttrString(plan, "source");
    PyObject *tseq = NULL;
    int status = -1;
    if (base == NULL || tiers == NULL || den == NULL || source == NULL)
        goto done;
    status = 0;
    PyObject *first = PySequence_Check(base) && PySequence_Size(base) > 0
                          ? PySequence_GetItem(base, 0)
                          : NULL;
    PyErr_Clear();
    if (first == NULL)
        goto done;
    p->is_float = PyFloat_CheckExact(first);
    Py_DECREF(first);
    if (read_coefficients(base, p, 0) != 0)
        goto done;
    tseq = PySequence_Fast(tiers, "tiers must be a sequence");
    if (tseq == NULL) {
        PyErr_Clear();
        goto done;
    }
    p->n_tiers = (int)PySequence_Fast_GET_SIZE(tseq);
    if (p->n_tiers > MAX_TIERS)
        goto done;
    for (int k = 1; k <= p->n_tiers; k++) {
        PyObject *tier = PySequence_Fast_GET_ITEM(tseq, k - 1);
        if (!PyTuple_Check(tier) || PyTuple_GET_SIZE(tier) != 2 ||
            !PyLong_CheckExact(PyTuple_GET_ITEM(tier, 0)))
            goto done;
        int overflow = 0;
        p->start[k] = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(tier, 0), &overflow);
        if (overflow || PyErr_Occurred()) {
            PyErr_Clear();
            goto done;
        }
        if (read_coefficients(PyTuple_GET_ITEM(tier, 1), p, k) != 0)
            goto done;
    }
    if (PyLong_CheckExact(den)) {
        int overflow = 0;
        p->den_i = PyLong_AsLongLongAndOverflow(den, &overflow);
        if (overflow || PyErr_Occurred() || p->den_i <= 0 || p->den_i > EXACT) {
            PyErr_Clear();
            goto done;
        }
        p->den_f = (double)p->den_i;
    } else if (PyFloat_CheckExact(den) && p->is_float) {
        p->den_f = PyFloat_AS_DOUBLE(den);
    } else {
        goto done;
    }
    if (!PyUnicode_Check(source))
        goto done;
    p->source = source; /* the plan holds it */
    p->ok = 1;
done:
    Py_XDECREF(base);
    Py_XDECREF(tiers);
    Py_XDECREF(den);
    Py_XDECREF(source);
    Py_XDECREF(tseq);
    return status;
}

/* The plan's cost of one clean row into *cost, as _Linear.cost computes it; 0 where only
 * Python's exact ints would do (then the row gets pricer.cost). */
static int plan_cost(const plan_t *p, const long long t[6], double *cost) {
    int k = 0;
    if (p->n_tiers) {
        long long total_input;
        if (__builtin_add_overflow(t[0], t[2], &total_input) ||
            __builtin_add_overflow(total_input, t[3], &total_input) ||
            __builtin_add_overflow(total_input, t[4], &total_input))
            return 0;
        for (int j = 1; j <= p->n_tiers; j++)
            if (total_input > p->start[j])
                k = j;
    }
    if (p->is_float) {
        const double *c = p->cf[k];
        double sum = c[0] * (double)t[0];
        for (int j = 1; j < 6; j++)
            sum = sum + c[j] * (double)t[j];
        sum = sum + c[6];
        *cost = sum / p->den_f;
        return 1;
    }
    const long long *c = p->ci[k];
    long long sum = c[6], term;
    for (int j = 0; j < 6; j++)
        if (__builtin_mul_overflow(c[j], t[j], &term) || __builtin_add_overflow(sum, term, &sum))
            return 0;
    if (sum > EXACT || sum < -EXACT)
        return 0;
    *cost = (double)sum / p->den_f; /* both exact: one correctly rounded division */
    return 1;
}

/* An int of at most 64 bits: 1 and *out; 0 for anything else (no error set). */
static int small_int(PyObject *v, long long *out) {
    if (!PyLong_Check(v))
        return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static long long floor_div(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static PyObject *S_FAST, *S_NO_USAGE, *S_LINEAR_PLAN, *S_COST;

static PyObject *api_rows(PyObject *self, PyObject *args) {
    PyObject *calls, *ids, *run_of, *pricer, *fallback;
    if (!PyArg_ParseTuple(args, "OOO!OO:api_rows", &calls, &ids, &PyDict_Type, &run_of, &pricer,
                          &fallback))
        return NULL;
    PyObject *cseq = PySequence_Fast(calls, "calls must be a list of tuples");
    PyObject *iseq = cseq ? PySequence_Fast(ids, "call_ids must be a list of str") : NULL;
    PyObject *out = NULL, *plan_obj = NULL;
    PyObject *last_provider = NULL, *last_model = NULL;
    long long last_day = 0;
    int last_fast = -1, have_last = 0;
    plan_t plan = {0};
    if (iseq == NULL)
        goto fail;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(cseq);
    if (PySequence_Fast_GET_SIZE(iseq) != n) {
        PyErr_Format(PyExc_ValueError, "%zd ids for %zd calls", PySequence_Fast_GET_SIZE(iseq), n);
        goto fail;
    }
    out = PyList_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *a = PySequence_Fast_GET_ITEM(cseq, r);
        PyObject *call_id = PySequence_Fast_GET_ITEM(iseq, r);
        if (!PyTuple_Check(a) || PyTuple_GET_SIZE(a) != 18) {
            PyErr_Format(PyExc_TypeError, "call %zd is not a tuple of 18 fields", r);
            goto fail;
        }
        PyObject **f = &PyTuple_GET_ITEM(a, 0);
        long long ts, t[6];
        int clean = small_int(f[5], &ts);
        for (int j = 0; clean && j < 6; j++)
            clean = small_int(f[7 + j], &t[j]);
        long long total = 0;
        for (int j = 0; clean && j < 5; j++)
            clean = !__builtin_add_overflow(total, t[j], &total);
        if (!clean) { /* a number past 64 bits, or not a number: the specification's row */
            PyObject *rows = PyObject_CallFunction(fallback, "[O][O]OO", a, call_id, run_of, pricer);
            if (rows == NULL)
                goto fail;
            if (!PyList_Check(rows) || PyList_GET_SIZE(rows) != 1) {
                Py_DECREF(rows);
                PyErr_SetString(PyExc_TypeError, "fallback must return a list of one row");
                goto fail;
            }
            PyObject *row = PyList_GET_ITEM(rows, 0);
            Py_INCREF(row);
            PyList_SET_ITEM(out, r, row);
            Py_DECREF(rows);
            continue;
        }
        PyObject *provider = f[1], *model = f[6];
        int fast = PyUnicode_Check(f[17]) && PyUnicode_Compare(f[17], S_FAST) == 0;
        long long day = floor_div(ts, DAY_MS);
        if (!have_last || day != last_day || fast != last_fast ||
            PyObject_RichCompareBool(provider, last_provider, Py_EQ) != 1 ||
            PyObject_RichCompareBool(model, last_model, Py_EQ) != 1) {
            if (PyErr_Occurred())
                goto fail;
            Py_XDECREF(plan_obj);
            plan_obj = PyObject_CallMethodObjArgs(pricer, S_LINEAR_PLAN, provider, model, f[5],
                                                  fast ? Py_True : Py_False, NULL);
            if (plan_obj == NULL || decode_plan(plan_obj, &plan) < 0)
                goto fail;
            Py_XSETREF(last_provider, Py_NewRef(provider));
            Py_XSETREF(last_model, Py_NewRef(model));
            last_day = day;
            last_fast = fast;
            have_last = 1;
        }
        PyObject *cost = NULL, *source = NULL;
        double value;
        if (total == 0) { /* an API error or empty response costs nothing at any price */
            cost = PyFloat_FromDouble(0.0);
            source = Py_NewRef(S_NO_USAGE);
        } else if (plan.ok && t[5] <= t[1] && (t[0] | t[1] | t[2] | t[3] | t[4] | t[5]) >= 0 &&
                   plan_cost(&plan, t, &value)) {
            cost = PyFloat_FromDouble(value);
            source = Py_NewRef(plan.source);
        } else {
            PyObject *priced = PyObject_CallMethodObjArgs(
                pricer, S_COST, provider, model, f[5], f[7], f[8], f[9], f[10], f[11], f[12],
                fast ? Py_True : Py_False, NULL);
            if (priced == NULL)
                goto fail;
            if (!PyTuple_Check(priced) || PyTuple_GET_SIZE(priced) != 2) {
                Py_DECREF(priced);
                PyErr_SetString(PyExc_TypeError, "pricer.cost must return (cost, source)");
                goto fail;
            }
            cost = Py_NewRef(PyTuple_GET_ITEM(priced, 0));
            source = Py_NewRef(PyTuple_GET_ITEM(priced, 1));
            Py_DECREF(priced);
            have_last = 0; /* as BulkPricer.costs: the plan may exist now */
        }
        PyObject *key = PyTuple_Pack(2, f[3], f[4]);
        PyObject *run_id = key ? PyDict_GetItemWithError(run_of, key) : NULL;
        Py_XDECREF(key);
        PyObject *total_obj = PyLong_FromLongLong(total);
        if (cost == NULL || (run_id == NULL && PyErr_Occurred()) || total_obj == NULL) {
            Py_XDECREF(cost);
            Py_XDECREF(source);
            Py_XDECREF(total_obj);
            goto fail;
        }
        PyObject *row = PyTuple_New(20);
        if (row == NULL) {
            Py_DECREF(cost);
            Py_DECREF(source);
            Py_DECREF(total_obj);
            goto fail;
        }
        /* (key, sess, run, ts, provider, model, i, o, cr, w5, w1, rs, cost, source, request,
         *  request type, sidechain, total, run id, id) */
        PyObject *from_call[] = {f[2], f[3], f[4], f[5],  f[1],  f[6],
                                 f[7], f[8], f[9], f[10], f[11], f[12]};
        for (int j = 0; j < 12; j++)
            PyTuple_SET_ITEM(row, j, Py_NewRef(from_call[j]));
        PyTuple_SET_ITEM(row, 12, cost);
        PyTuple_SET_ITEM(row, 13, source);
        PyTuple_SET_ITEM(row, 14, Py_NewRef(f[13]));
        PyTuple_SET_ITEM(row, 15, Py_NewRef(fast ? S_FAST : Py_None));
        PyTuple_SET_ITEM(row, 16, Py_NewRef(f[15]));
        PyTuple_SET_ITEM(row, 17, total_obj);
        PyTuple_SET_ITEM(row, 18, Py_NewRef(run_id ? run_id : Py_None));
        PyTuple_SET_ITEM(row, 19, Py_NewRef(call_id));
        PyList_SET_ITEM(out, r, row);
    }
    Py_DECREF(cseq);
    Py_DECREF(iseq);
    Py_XDECREF(plan_obj);
    Py_XDECREF(last_provider);
    Py_XDECREF(last_model);
    return out;
fail:
    Py_XDECREF(cseq);
    Py_XDECREF(iseq);
    Py_XDECREF(out);
    Py_XDECREF(plan_obj);
    Py_XDECREF(last_provider);
    Py_XDECREF(last_model);
    return NULL;
}

static PyMethodDef methods[] = {
    {"api_rows", api_rows, METH_VARARGS,
     "api_rows(calls, call_ids, run_of, pricer, fallback) -> list[tuple]: see _api_rows.c."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_api_rows",
    "importing/transcripts.py's _api_rows_python in C (see _api_rows.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__api_rows(void) {
    if (!(S_FAST = PyUnicode_InternFromString("fast")) ||
        !(S_NO_USAGE = PyUnicode_InternFromString("no-usage")) ||
        !(S_LINEAR_PLAN = PyUnicode_InternFromString("linear_plan")) ||
        !(S_COST = PyUnicode_InternFromString("cost")))
        return NULL;
    return PyModule_Create(&module);
}
