/* aitrack.transcripts._claude_read: the Claude Code transcript reader of claude_code.py, in C.
 *
 * The specification is claude_code.py: _ClaudeFile._read_python (the rules) and _decode_line
 * (how a line is read). This module must give exactly their results, mutating the same
 * Python objects (parser.api, .tools, .runs, state.runs, ...) in the same order with values
 * of the same types.
 *
 * Per line: the same shape test and routing as _decode_line; then a strict JSON scanner
 * reads the fields of the routed schema (_UserLine or _AssistantLine, with the nested
 * data.message of progress lines and the message.content blocks) and skips everything else
 * without creating Python objects. Whenever the scanner is not certain that msgspec's typed
 * decoder would read the line and give these values (a syntax error, a value of another
 * JSON type, a count out of range, a \u escape of a surrogate, a key with an escape, a
 * duplicate key read, nesting deeper than MAX_DEPTH, a line of the other kind, ...), it
 * calls the Python _decode_line for that line and reads the struct it returns: Python is
 * the arbiter. The rules are then applied in C to either source.
 *
 * Sections: strings and buffers; the JSON scanner; the struct reader; lines from Python;
 * timestamps; the rules; the drivers (an iterable of (offset, line), or a file).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { OK = 0, BAIL = 1, END = 2, ERR = -1 };
enum { S_NONE, S_USER, S_ASSIST };                                   /* routes / schemas */
enum { K_NONE, K_USER, K_ASSISTANT, K_PROGRESS, K_SUMMARY, K_OTHER }; /* line kinds */
enum { C_NONE, C_STR, C_LIST };                                      /* message.content */

#define MAX_DEPTH 64 /* JSON nesting followed by the scanner; deeper lines go to Python */
#define MAX_NEST 3   /* line structs: a line, its data.message, and that one's */

/* Interned strings, made at import. */
static PyObject *S_EMPTY, *S_SIDE, *S_NL, *S_ANTHROPIC, *S_ANTHROPIC_PFX, *S_UNKNOWN,
    *S_LSTRIP, *S_STARTSWITH, *S_RELEASE, *L_ZERO;
static PyObject *A_TYPE, *A_TIMESTAMP, *A_ISSIDECHAIN, *A_AGENTID, *A_CWD, *A_GITBRANCH,
    *A_VERSION, *A_DATA, *A_SUMMARY, *A_REQUESTID, *A_MESSAGE, *A_UUID, *A_ISMETA,
    *A_ISCOMPACT, *A_ISVISIBLE, *A_CONTENT, *A_ID, *A_MODEL, *A_USAGE, *A_NAME, *A_TOOL_USE_ID,
    *A_IS_ERROR, *A_TEXT, *A_INPUT, *A_OUTPUT, *A_CREAD, *A_CCREATE, *A_CACHE, *A_W5, *A_W1,
    *A_SPEED, *A_STATE, *A_API, *A_TOOLS, *A_RUNS, *A_OPEN_TOOLS, *A_RELPATH, *A_SESSION_ID,
    *A_FIRST_TS, *A_LAST_TS, *A_SIDE_MODEL, *A_TITLE, *A_GIT_BRANCH, *A_MALFORMED, *A_OTHER,
    *A_API_LINES, *A_LINES, *A_BYTES, *A_HUGE;

/* == strings and buffers ================================================================ */

/* A string value read: a span of raw JSON string content (C), or a Python value (from a
 * struct Python decoded; any type for agentId and block types). Neither: None / absent. */
typedef struct {
    const char *p;
    Py_ssize_t n;
    int esc;       /* the span has backslash escapes */
    PyObject *obj; /* borrowed from Reader.refs */
} Str;

typedef struct {
    Str type, id, name, text; /* id: _ReplyBlock.id or _PromptBlock.tool_use_id */
    int is_error;             /* is_error is True */
} Block;

typedef struct Line {
    Str type, timestamp, agent, cwd, branch, version, summary, request_id, uuid;
    int side;           /* isSidechain is True */
    int meta;           /* isMeta or isCompactSummary or isVisibleInTranscriptOnly */
    struct Line *inner; /* data.message; NULL: data or its message is None */
    int has_message;
    int content; /* C_* */
    Str content_str;
    Py_ssize_t blk0, nblk;
    Str id, model, speed; /* _Reply */
    int has_usage, has_cache;
    long long inp, out, cread, ccreate, w5, w1;
    /* from Python, a count beyond 64 bits for one of these three: the int, borrowed from
     * Reader.refs, and the long long 0 (the generic path now counts such values 0; this
     * only keeps whatever _decode_line returns exact) */
    PyObject *big_inp, *big_out, *big_read;
} Line;

/* The last raw span turned into a str, kept to reuse the object for the next equal one. */
typedef struct {
    char *raw;
    Py_ssize_t n, cap;
    PyObject *obj, *extra; /* extra: for message ids, "anthropic:" + obj */
} Memo;

typedef struct {
    /* config */
    PyObject *decode_line, *ts_func, *not_read, *not_prompts, *agent;
    Py_ssize_t prompt_chars, not_prompt_len; /* not_prompt_len: the longest of not_prompts, -1: unknown */
    /* the parser's objects (new references) */
    PyObject *parser, *state, *api, *tools, *runs, *st_runs, *open_tools, *relpath, *sid;
    PyObject *model, *side_model, *title, *cwd, *branch, *version;
    long long first, last;
    Py_ssize_t n_malformed, n_other, n_api;
    /* per line */
    Line lines[MAX_NEST];
    Block *blocks;
    Py_ssize_t nblocks, cap_blocks;
    PyObject **refs;
    Py_ssize_t nrefs, cap_refs;
    char *tmp;
    Py_ssize_t cap_tmp;
    PyObject *ts_obj; /* the line's timestamp as an int, made once when needed */
    long long ts;
    Memo m_cwd, m_branch, m_version, m_model, m_req, m_speed, m_mid, m_agent; /* m_agent.extra: its side key */
    char date[10];   /* the last YYYY-MM-DD parsed, */
    long long days;  /* its day since the epoch */
} Reader;

/* An exception set aside while the stats are written (PyErr_Fetch is deprecated in 3.12). */
typedef struct {
    PyObject *t, *v, *tb;
} SavedErr;

static void err_save(SavedErr *e) {
#if PY_VERSION_HEX >= 0x030C0000
    e->t = e->tb = NULL;
    e->v = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&e->t, &e->v, &e->tb);
#endif
}

/* Restore it, or drop it when another error was raised meanwhile. */
static void err_restore(SavedErr *e) {
    if (PyErr_Occurred()) {
        Py_XDECREF(e->t);
        Py_XDECREF(e->v);
        Py_XDECREF(e->tb);
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(e->v);
#else
    PyErr_Restore(e->t, e->v, e->tb);
#endif
}

static int grow(void **buf, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    if (need <= *cap) return 0;
    Py_ssize_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *p = PyMem_Realloc(*buf, (size_t)n * item);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = p;
    *cap = n;
    return 0;
}

/* Keep a reference until the end of the line (steals o). */
static int keep(Reader *r, PyObject *o) {
    if (grow((void **)&r->refs, &r->cap_refs, r->nrefs + 1, sizeof(PyObject *)) < 0) {
        Py_DECREF(o);
        return -1;
    }
    r->refs[r->nrefs++] = o;
    return 0;
}

static void line_done(Reader *r) {
    while (r->nrefs) Py_DECREF(r->refs[--r->nrefs]);
    Py_CLEAR(r->ts_obj);
    r->nblocks = 0;
}

static inline int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The code unit of the \uXXXX at p (p[0] == '\\', p[1] == 'u'), -1 if not 4 hex digits. */
static inline long u_escape(const unsigned char *p, const unsigned char *e) {
    if (e - p < 6) return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The length of the escape at p (p[0] == '\\'): 2, or 6 for \u; 0 when msgspec would
 * reject it or when it is a surrogate (a lone one is rejected; pairs are left to Python). */
static inline int escape_len(const unsigned char *p, const unsigned char *e) {
    if (e - p < 2) return 0;
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u': {
        long v = u_escape(p, e);
        return v < 0 || (v >= 0xD800 && v <= 0xDFFF) ? 0 : 6;
    }
    default:
        return 0;
    }
}

/* Unescape a validated span into r->tmp; its length, -1 on MemoryError. */
static Py_ssize_t unescape(Reader *r, const char *src, Py_ssize_t n) {
    if (grow((void **)&r->tmp, &r->cap_tmp, n + 1, 1) < 0) return -1;
    const unsigned char *p = (const unsigned char *)src, *e = p + n;
    char *o = r->tmp;
    while (p < e) {
        if (*p != '\\') {
            const unsigned char *b = memchr(p, '\\', (size_t)(e - p));
            size_t run = (size_t)((b ? b : e) - p);
            memcpy(o, p, run);
            o += run;
            p += run;
            continue;
        }
        switch (p[1]) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            long v = u_escape(p, e); /* validated: not a surrogate */
            if (v < 0x80) {
                *o++ = (char)v;
            } else if (v < 0x800) {
                *o++ = (char)(0xC0 | (v >> 6));
                *o++ = (char)(0x80 | (v & 0x3F));
            } else {
                *o++ = (char)(0xE0 | (v >> 12));
                *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                *o++ = (char)(0x80 | (v & 0x3F));
            }
            p += 6;
            continue;
        }
        default: *o++ = (char)p[1]; /* " \ / */
        }
        p += 2;
    }
    return o - r->tmp;
}

/* The value as a new reference: the str, the Python value, or None. */
static PyObject *str_new(Reader *r, const Str *s) {
    if (s->obj) return Py_NewRef(s->obj);
    if (!s->p) return Py_NewRef(Py_None);
    if (!s->esc) return PyUnicode_DecodeUTF8(s->p, s->n, NULL);
    Py_ssize_t n = unescape(r, s->p, s->n);
    return n < 0 ? NULL : PyUnicode_DecodeUTF8(r->tmp, n, NULL);
}

static inline int str_present(const Str *s) { return s->obj || s->p; }

/* Truthiness of the value: 1, 0, -1 on error. */
static inline int str_truthy(const Str *s) {
    if (s->obj) return PyObject_IsTrue(s->obj);
    return s->p && s->n > 0; /* any escape is at least one character */
}

/* Is the value the str lit (ASCII)? -1 on MemoryError. */
static int str_equals(Reader *r, const Str *s, const char *lit) {
    size_t len = strlen(lit);
    if (s->obj) return PyUnicode_CheckExact(s->obj) && PyUnicode_CompareWithASCIIString(s->obj, lit) == 0;
    if (!s->p) return 0;
    if (!s->esc) return (size_t)s->n == len && memcmp(s->p, lit, len) == 0;
    Py_ssize_t n = unescape(r, s->p, s->n);
    if (n < 0) return -1;
    return (size_t)n == len && memcmp(r->tmp, lit, len) == 0;
}

/* A borrowed str for s (present): reused from the memo when its raw span is the same. */
static PyObject *memo_get(Reader *r, Memo *m, const Str *s) {
    if (s->obj) return s->obj;
    if (!s->esc && m->obj && m->n == s->n && memcmp(m->raw, s->p, (size_t)s->n) == 0) return m->obj;
    PyObject *o = str_new(r, s);
    if (!o) return NULL;
    if (s->esc) return keep(r, o) < 0 ? NULL : o;
    if (grow((void **)&m->raw, &m->cap, s->n + 1, 1) < 0) {
        Py_DECREF(o);
        return NULL;
    }
    memcpy(m->raw, s->p, (size_t)s->n);
    m->n = s->n;
    Py_XSETREF(m->obj, o);
    Py_CLEAR(m->extra);
    return o;
}

static void memo_clear(Memo *m) {
    PyMem_Free(m->raw);
    Py_CLEAR(m->obj);
    Py_CLEAR(m->extra);
}

/* == the JSON scanner ===================================================================== */

typedef struct {
    const unsigned char *p, *e;
    int depth;
} Cur;

static unsigned char STR_STOP[256]; /* '"', '\\', control characters */

static inline void skip_ws(Cur *c) {
    while (c->p < c->e && *c->p <= ' ' && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* The first '"', '\\' or control character from p (with ascii_only, also bytes >= 0x80). */
static inline const unsigned char *str_scan(const unsigned char *p, const unsigned char *e, int ascii_only) {
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1F);
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f));
        int mask = _mm_movemask_epi8(m) | (ascii_only ? _mm_movemask_epi8(v) : 0);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < e && !STR_STOP[*p] && !(ascii_only && *p >= 0x80)) p++;
    return p;
}

/* The length of the valid UTF-8 sequence at p (*p >= 0x80), 0 if invalid (as Python's
 * strict decoder: no overlong forms, no surrogates, nothing above U+10FFFF). */
static inline int utf8_len(const unsigned char *p, const unsigned char *e) {
    unsigned char c = *p;
    Py_ssize_t left = e - p;
#define CONT(i) (left > (i) && (p[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) return CONT(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || !CONT(1) || !CONT(2)) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;
        if (c == 0xED && p[1] > 0x9F) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || !CONT(1) || !CONT(2) || !CONT(3)) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;
        if (c == 0xF4 && p[1] > 0x8F) return 0;
        return 4;
    }
    return 0;
#undef CONT
}

/* A string not read (at '"'): escapes checked as msgspec does, UTF-8 not (as msgspec). */
static int skip_str(Cur *c) {
    const unsigned char *p = c->p + 1, *e = c->e;
    for (;;) {
        p = str_scan(p, e, 0);
        if (p >= e) return BAIL;
        if (*p == '"') break;
        if (*p != '\\') return BAIL; /* a control character */
        int n = escape_len(p, e);
        if (!n) return BAIL;
        p += n;
    }
    c->p = p + 1;
    return OK;
}

/* A string read (at '"'): escapes and UTF-8 checked, as msgspec does for the values it returns. */
static int scan_str(Cur *c, Str *s) {
    const unsigned char *start = c->p + 1, *p = start, *e = c->e;
    int esc = 0;
    for (;;) {
        p = str_scan(p, e, 1);
        if (p >= e) return BAIL;
        unsigned char ch = *p;
        if (ch == '"') break;
        int n;
        if (ch == '\\') {
            n = escape_len(p, e);
            esc = 1;
        } else if (ch >= 0x80) {
            n = utf8_len(p, e);
        } else {
            n = 0; /* a control character */
        }
        if (!n) return BAIL;
        p += n;
    }
    s->p = (const char *)start;
    s->n = p - start;
    s->esc = esc;
    s->obj = NULL;
    c->p = p + 1;
    return OK;
}

static int skip_num(Cur *c) {
    const unsigned char *p = c->p, *e = c->e;
#define DIGIT(q) ((q) < e && *(q) >= '0' && *(q) <= '9')
    if (p < e && *p == '-') p++;
    if (p < e && *p == '0') {
        p++;
    } else if (DIGIT(p)) {
        while (DIGIT(p)) p++;
    } else {
        return BAIL;
    }
    if (p < e && *p == '.') {
        p++;
        if (!DIGIT(p)) return BAIL;
        while (DIGIT(p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!DIGIT(p)) return BAIL;
        while (DIGIT(p)) p++;
    }
#undef DIGIT
    c->p = p;
    return OK;
}

static int literal(Cur *c, const char *lit, Py_ssize_t n) {
    if (c->e - c->p < n || memcmp(c->p, lit, (size_t)n) != 0) return BAIL;
    c->p += n;
    return OK;
}

/* Any JSON value not read (syntax checked: what msgspec checks when it skips). */
static int skip_value(Cur *c) {
    if (c->p >= c->e) return BAIL;
    switch (*c->p) {
    case '"':
        return skip_str(c);
    case '{':
    case '[': {
        unsigned char close = *c->p == '{' ? '}' : ']';
        int obj = close == '}';
        if (++c->depth > MAX_DEPTH) return BAIL;
        c->p++;
        skip_ws(c);
        if (c->p < c->e && *c->p == close) {
            c->p++;
            c->depth--;
            return OK;
        }
        for (;;) {
            if (obj) {
                if (c->p >= c->e || *c->p != '"' || skip_str(c)) return BAIL;
                skip_ws(c);
                if (c->p >= c->e || *c->p != ':') return BAIL;
                c->p++;
                skip_ws(c);
            }
            if (c->p < c->e && *c->p == '"' ? skip_str(c) : skip_value(c)) return BAIL;
            skip_ws(c);
            if (c->p >= c->e) return BAIL;
            if (*c->p == ',') {
                c->p++;
                skip_ws(c);
                continue;
            }
            if (*c->p != close) return BAIL;
            c->p++;
            c->depth--;
            return OK;
        }
    }
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return skip_num(c);
    }
}

/* Objects read field by field: obj_enter at '{', then obj_next until END. */
static int obj_enter(Cur *c) {
    if (c->p >= c->e || *c->p != '{' || ++c->depth > MAX_DEPTH) return BAIL;
    c->p++;
    return OK;
}

/* OK with the key's raw bytes and the cursor at its value, END past the '}', or BAIL. A
 * key with an escape goes to Python (msgspec matches the unescaped key). */
static int obj_next(Cur *c, int *first, const char **k, Py_ssize_t *kn) {
    const unsigned char *p = c->p, *e = c->e;
    if (!*first && e - p > 2 && p[0] == ',' && p[1] == '"') { /* compact JSON: ,"key":value */
        const unsigned char *q = str_scan(p + 2, e, 0);
        if (e - q > 2 && q[0] == '"' && q[1] == ':' && q[2] > ' ') {
            *k = (const char *)p + 2;
            *kn = q - p - 2;
            c->p = q + 2;
            return OK;
        }
    }
    skip_ws(c);
    if (c->p >= c->e) return BAIL;
    if (*first) {
        *first = 0;
        if (*c->p == '}') {
            c->p++;
            c->depth--;
            return END;
        }
    } else if (*c->p == ',') {
        c->p++;
        skip_ws(c);
        if (c->p >= c->e) return BAIL;
    } else if (*c->p == '}') {
        c->p++;
        c->depth--;
        return END;
    } else {
        return BAIL;
    }
    if (*c->p != '"') return BAIL;
    const unsigned char *s = c->p + 1, *q = str_scan(s, c->e, 0);
    if (q >= c->e || *q != '"') return BAIL;
    *k = (const char *)s;
    *kn = q - s;
    c->p = q + 1;
    skip_ws(c);
    if (c->p >= c->e || *c->p != ':') return BAIL;
    c->p++;
    skip_ws(c);
    return c->p < c->e ? OK : BAIL;
}

/* Arrays read element by element: arr_enter at '[', then arr_next until END. */
static int arr_enter(Cur *c) {
    if (c->p >= c->e || *c->p != '[' || ++c->depth > MAX_DEPTH) return BAIL;
    c->p++;
    return OK;
}

static int arr_next(Cur *c, int *first) {
    skip_ws(c);
    if (c->p >= c->e) return BAIL;
    if (*first) {
        *first = 0;
        if (*c->p == ']') {
            c->p++;
            c->depth--;
            return END;
        }
    } else if (*c->p == ',') {
        c->p++;
        skip_ws(c);
    } else if (*c->p == ']') {
        c->p++;
        c->depth--;
        return END;
    } else {
        return BAIL;
    }
    return c->p < c->e ? OK : BAIL;
}

/* == the struct reader: the fields of _UserLine / _AssistantLine ========================= */

#define KEY(lit) (kn == (Py_ssize_t)sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)
#define ONCE(bit)                     \
    do {                              \
        if (seen & (1u << (bit))) return BAIL; \
        seen |= 1u << (bit);          \
    } while (0)
#define IS_NULL(c) ((c)->p < (c)->e && *(c)->p == 'n')

/* str | None */
static int rd_str(Cur *c, Str *s) {
    if (IS_NULL(c)) {
        memset(s, 0, sizeof *s);
        return literal(c, "null", 4);
    }
    if (c->p < c->e && *c->p == '"') return scan_str(c, s);
    return BAIL;
}

/* Any, where only `is True` or truthiness is used: true, false and null here, the rest in Python. */
static int rd_flag(Cur *c, int *is_true) {
    if (c->p < c->e && *c->p == 't') {
        *is_true = 1;
        return literal(c, "true", 4);
    }
    *is_true = 0;
    if (c->p < c->e && *c->p == 'f') return literal(c, "false", 5);
    return literal(c, "null", 4);
}

/* _Count: an int in [0, 2**63): digits only ("-0", floats and the rest go to Python). */
static int rd_count(Cur *c, long long *out) {
    const unsigned char *p = c->p, *e = c->e;
    if (p >= e || *p < '0' || *p > '9') return BAIL;
    unsigned long long v = 0;
    if (*p == '0') {
        p++;
    } else {
        while (p < e && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (v > (9223372036854775807ULL - d) / 10) return BAIL;
            v = v * 10 + d;
            p++;
        }
    }
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) return BAIL;
    *out = (long long)v;
    c->p = p;
    return OK;
}

static Block *new_block(Reader *r) {
    if (grow((void **)&r->blocks, &r->cap_blocks, r->nblocks + 1, sizeof(Block)) < 0) return NULL;
    Block *b = &r->blocks[r->nblocks++];
    memset(b, 0, sizeof *b);
    return b;
}

/* list[_ReplyBlock] (reply) or list[_PromptBlock] */
static int rd_blocks(Cur *c, Reader *r, Line *L, int reply) {
    int first = 1, rc;
    if ((rc = arr_enter(c))) return rc;
    L->blk0 = r->nblocks;
    while ((rc = arr_next(c, &first)) == OK) {
        Py_ssize_t i = r->nblocks;
        if (!new_block(r)) return ERR;
        int ofirst = 1;
        unsigned seen = 0;
        const char *k;
        Py_ssize_t kn;
        if ((rc = obj_enter(c))) return rc;
        while ((rc = obj_next(c, &ofirst, &k, &kn)) == OK) {
            Block *b = &r->blocks[i];
            if (KEY("type")) {
                ONCE(0);
                rc = rd_str(c, &b->type);
            } else if (reply ? KEY("id") : KEY("tool_use_id")) {
                ONCE(1);
                rc = rd_str(c, &b->id);
            } else if (reply && KEY("name")) {
                ONCE(2);
                rc = rd_str(c, &b->name);
            } else if (!reply && KEY("is_error")) {
                ONCE(3);
                rc = rd_flag(c, &b->is_error);
            } else if (!reply && KEY("text")) {
                ONCE(4);
                rc = rd_str(c, &b->text);
            } else {
                rc = skip_value(c);
            }
            if (rc) return rc;
        }
        if (rc != END) return rc;
    }
    if (rc != END) return rc;
    L->nblk = r->nblocks - L->blk0;
    return OK;
}

/* list[...] | str | None */
static int rd_content(Cur *c, Reader *r, Line *L, int reply) {
    if (IS_NULL(c)) {
        L->content = C_NONE;
        return literal(c, "null", 4);
    }
    if (c->p < c->e && *c->p == '"') {
        L->content = C_STR;
        return scan_str(c, &L->content_str);
    }
    L->content = C_LIST;
    return rd_blocks(c, r, L, reply);
}

static int rd_cache(Cur *c, Line *L) {
    int first = 1, rc;
    unsigned seen = 0;
    const char *k;
    Py_ssize_t kn;
    if ((rc = obj_enter(c))) return rc;
    while ((rc = obj_next(c, &first, &k, &kn)) == OK) {
        if (KEY("ephemeral_5m_input_tokens")) {
            ONCE(0);
            rc = rd_count(c, &L->w5);
        } else if (KEY("ephemeral_1h_input_tokens")) {
            ONCE(1);
            rc = rd_count(c, &L->w1);
        } else {
            rc = skip_value(c);
        }
        if (rc) return rc;
    }
    return rc == END ? OK : rc;
}

static int rd_usage(Cur *c, Line *L) {
    int first = 1, rc;
    unsigned seen = 0;
    const char *k;
    Py_ssize_t kn;
    if ((rc = obj_enter(c))) return rc;
    L->has_usage = 1;
    L->inp = L->out = -1; /* _ABSENT */
    while ((rc = obj_next(c, &first, &k, &kn)) == OK) {
        if (KEY("input_tokens")) {
            ONCE(0);
            rc = rd_count(c, &L->inp);
        } else if (KEY("output_tokens")) {
            ONCE(1);
            rc = rd_count(c, &L->out);
        } else if (KEY("cache_read_input_tokens")) {
            ONCE(2);
            rc = rd_count(c, &L->cread);
        } else if (KEY("cache_creation_input_tokens")) {
            ONCE(3);
            rc = rd_count(c, &L->ccreate);
        } else if (KEY("cache_creation")) {
            ONCE(4);
            if (IS_NULL(c)) {
                rc = literal(c, "null", 4);
            } else {
                L->has_cache = 1;
                rc = rd_cache(c, L);
            }
        } else if (KEY("speed")) {
            ONCE(5);
            rc = rd_str(c, &L->speed);
        } else {
            rc = skip_value(c);
        }
        if (rc) return rc;
    }
    return rc == END ? OK : rc;
}

/* _Reply (assistant) or _Prompt (user): the value of "message", an object */
static int rd_message(Cur *c, Reader *r, Line *L, int schema) {
    int first = 1, rc;
    unsigned seen = 0;
    const char *k;
    Py_ssize_t kn;
    if ((rc = obj_enter(c))) return rc;
    L->has_message = 1;
    while ((rc = obj_next(c, &first, &k, &kn)) == OK) {
        if (KEY("content")) {
            ONCE(0);
            rc = rd_content(c, r, L, schema == S_ASSIST);
        } else if (schema == S_USER) {
            rc = skip_value(c);
        } else if (KEY("id")) {
            ONCE(1);
            rc = rd_str(c, &L->id);
        } else if (KEY("model")) {
            ONCE(2);
            rc = rd_str(c, &L->model);
        } else if (KEY("usage")) {
            ONCE(3);
            rc = IS_NULL(c) ? literal(c, "null", 4) : rd_usage(c, L);
        } else {
            rc = skip_value(c);
        }
        if (rc) return rc;
    }
    return rc == END ? OK : rc;
}

static int rd_line(Cur *c, Reader *r, int level, int schema);

/* _Progress: {"message": _AssistantLine | None} */
static int rd_progress(Cur *c, Reader *r, int level) {
    int first = 1, rc;
    unsigned seen = 0;
    const char *k;
    Py_ssize_t kn;
    Line *L = &r->lines[level];
    if ((rc = obj_enter(c))) return rc;
    while ((rc = obj_next(c, &first, &k, &kn)) == OK) {
        if (KEY("message")) {
            ONCE(0);
            if (IS_NULL(c)) {
                rc = literal(c, "null", 4);
            } else if (level + 1 >= MAX_NEST) {
                rc = BAIL;
            } else {
                rc = rd_line(c, r, level + 1, S_ASSIST);
                L->inner = &r->lines[level + 1];
            }
        } else {
            rc = skip_value(c);
        }
        if (rc) return rc;
    }
    return rc == END ? OK : rc;
}

/* _UserLine or _AssistantLine into r->lines[level] */
static int rd_line(Cur *c, Reader *r, int level, int schema) {
    int first = 1, rc, flag;
    unsigned seen = 0;
    const char *k;
    Py_ssize_t kn;
    Line *L = &r->lines[level];
    memset(L, 0, sizeof *L);
    if ((rc = obj_enter(c))) return rc;
    while ((rc = obj_next(c, &first, &k, &kn)) == OK) {
        switch (kn) {
        case 3:
            if (KEY("cwd")) {
                ONCE(0);
                rc = rd_str(c, &L->cwd);
                break;
            }
            goto skip;
        case 4:
            if (KEY("type")) {
                ONCE(1);
                rc = rd_str(c, &L->type);
                break;
            }
            if (KEY("data")) {
                ONCE(2);
                rc = IS_NULL(c) ? literal(c, "null", 4) : rd_progress(c, r, level);
                break;
            }
            if (schema == S_USER && KEY("uuid")) {
                ONCE(3);
                rc = rd_str(c, &L->uuid);
                break;
            }
            goto skip;
        case 6:
            if (KEY("isMeta") && schema == S_USER) {
                ONCE(4);
                rc = rd_flag(c, &flag);
                L->meta |= flag;
                break;
            }
            goto skip;
        case 7:
            if (KEY("agentId")) {
                ONCE(5);
                rc = rd_str(c, &L->agent);
                break;
            }
            if (KEY("version")) {
                ONCE(6);
                rc = rd_str(c, &L->version);
                break;
            }
            if (KEY("message")) {
                ONCE(7);
                rc = IS_NULL(c) ? literal(c, "null", 4) : rd_message(c, r, L, schema);
                break;
            }
            if (KEY("summary")) {
                ONCE(8);
                rc = rd_str(c, &L->summary);
                break;
            }
            goto skip;
        case 9:
            if (KEY("timestamp")) {
                ONCE(9);
                rc = rd_str(c, &L->timestamp);
                break;
            }
            if (KEY("gitBranch")) {
                ONCE(10);
                rc = rd_str(c, &L->branch);
                break;
            }
            if (schema == S_ASSIST && KEY("requestId")) {
                ONCE(11);
                rc = rd_str(c, &L->request_id);
                break;
            }
            goto skip;
        case 11:
            if (KEY("isSidechain")) {
                ONCE(12);
                rc = rd_flag(c, &L->side);
                break;
            }
            goto skip;
        case 16:
            if (schema == S_USER && KEY("isCompactSummary")) {
                ONCE(13);
                rc = rd_flag(c, &flag);
                L->meta |= flag;
                break;
            }
            goto skip;
        case 25:
            if (schema == S_USER && KEY("isVisibleInTranscriptOnly")) {
                ONCE(14);
                rc = rd_flag(c, &flag);
                L->meta |= flag;
                break;
            }
            goto skip;
        default:
        skip:
            rc = *c->p == '"' ? skip_str(c) : skip_value(c);
        }
        if (rc) return rc;
    }
    return rc == END ? OK : rc;
}

/* The whole line as the typed decoder of its route reads it: OK, BAIL or ERR. */
static int scan_line(Reader *r, const char *s, Py_ssize_t n, int schema) {
    Cur c = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    skip_ws(&c);
    int rc = rd_line(&c, r, 0, schema);
    if (rc) return rc;
    skip_ws(&c);
    return c.p == c.e ? OK : BAIL;
}

static int kind_of(Reader *r, const Str *type) {
    static const char *const names[] = {"user", "assistant", "progress", "summary"};
    if (!str_present(type)) return K_NONE;
    for (int i = 0; i < 4; i++) {
        int eq = str_equals(r, type, names[i]);
        if (eq) return eq < 0 ? -1 : K_USER + i;
    }
    return K_OTHER;
}

/* _decode_line's shape test: '{' ... '}' once bytes.strip() whitespace is stripped. */
static int shape_ok(const char *s, Py_ssize_t n) {
    if (n && s[0] == '{' && s[n - 1] == '}') return 1;
#define SP(ch) ((ch) == ' ' || (ch) == '\t' || (ch) == '\n' || (ch) == '\r' || (ch) == '\x0b' || (ch) == '\x0c')
    Py_ssize_t i = 0, j = n;
    while (i < j && SP(s[i])) i++;
    while (j > i && SP(s[j - 1])) j--;
#undef SP
    return j > i && s[i] == '{' && s[j - 1] == '}';
}

/* The first occurrence of nd (nn >= 2) in h, NULL if none: bytes.find. With SSE2, 16
 * positions at a time are tested for the needle's first and last byte. */
static const char *find(const char *h, Py_ssize_t hn, const char *nd, Py_ssize_t nn) {
    if (hn < nn) return NULL;
    const char *p = h, *last = h + hn - nn; /* the last possible start */
#if defined(__SSE2__)
    const __m128i first = _mm_set1_epi8(nd[0]), lastb = _mm_set1_epi8(nd[nn - 1]);
    while (last - p >= 15) {
        __m128i a = _mm_loadu_si128((const __m128i *)p), b = _mm_loadu_si128((const __m128i *)(p + nn - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, lastb)));
        while (mask) {
            int i = __builtin_ctz(mask);
            if (memcmp(p + i + 1, nd + 1, (size_t)(nn - 2)) == 0) return p + i;
            mask &= mask - 1;
        }
        p += 16;
    }
#endif
    for (; p <= last; p++)
        if (*p == nd[0] && memcmp(p + 1, nd + 1, (size_t)(nn - 1)) == 0) return p;
    return NULL;
}

/* _decode_line's routing: the schema of the typed decoder, S_NONE when not parsed. */
static int route(const char *s, Py_ssize_t n) {
    const char *m = find(s, n, "\"message\":{", 11);
    if (m && m > s) {
        Py_ssize_t at = m - s + 11, lim = m - s + 160;
        if (n - at >= 13 && memcmp(s + at, "\"role\":\"user\"", 13) == 0) return S_USER;
        if (lim > n) lim = n;
        if (lim > at && find(s + at, lim - at, "\"role\":\"assistant\"", 18)) return S_ASSIST;
    }
    if (find(s, n, "\"usage\"", 7) && find(s, n, "\"assistant\"", 11)) return S_ASSIST;
    if (find(s, n, "\"user\"", 6) || find(s, n, "\"summary\"", 9)) return S_USER;
    return S_NONE;
}

/* == lines from Python: the struct _decode_line returned, into the same Line ============= */

/* getattr into a Str (None stays absent). */
static int py_str(Reader *r, PyObject *o, PyObject *name, Str *s) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    s->obj = v;
    return keep(r, v);
}

/* getattr(o, name) is True: 1, 0, -1 */
static int py_is_true(PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    int t = v == Py_True;
    Py_DECREF(v);
    return t;
}

static int py_truthy(PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* A count (an int); with big, one beyond 64 bits is kept there as the int. */
static int py_count(Reader *r, PyObject *o, PyObject *name, long long *out, PyObject **big) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (*out == -1 && PyErr_Occurred()) {
        Py_DECREF(v);
        return -1;
    }
    if (overflow) {
        if (!big) {
            Py_DECREF(v);
            PyErr_SetString(PyExc_OverflowError, "a cache count beyond 64 bits");
            return -1;
        }
        *out = 0;
        *big = v;
        return keep(r, v);
    }
    Py_DECREF(v);
    return 0;
}

/* getattr as a new reference; *none when it is None. */
static PyObject *py_attr(PyObject *o, PyObject *name, int *none) {
    PyObject *v = PyObject_GetAttr(o, name);
    *none = v == Py_None;
    return v;
}

static int py_blocks(Reader *r, PyObject *content, Line *L, int reply) {
    L->content = C_LIST;
    L->blk0 = r->nblocks;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(content); i++) {
        PyObject *b = PyList_GET_ITEM(content, i);
        Py_INCREF(b);
        Py_ssize_t at = r->nblocks;
        int rc = new_block(r) ? 0 : -1;
        if (!rc) rc = py_str(r, b, A_TYPE, &r->blocks[at].type);
        if (!rc && reply) {
            rc = py_str(r, b, A_ID, &r->blocks[at].id);
            if (!rc) rc = py_str(r, b, A_NAME, &r->blocks[at].name);
        } else if (!rc) {
            rc = py_str(r, b, A_TOOL_USE_ID, &r->blocks[at].id);
            if (!rc) rc = py_str(r, b, A_TEXT, &r->blocks[at].text);
            if (!rc) rc = (r->blocks[at].is_error = py_is_true(b, A_IS_ERROR)) < 0 ? -1 : 0;
        }
        Py_DECREF(b);
        if (rc) return -1;
        /* PyList_GET_SIZE again: a getattr cannot change the list, but stay safe */
    }
    L->nblk = r->nblocks - L->blk0;
    return 0;
}

/* The fields the rules read of a line of kind `kind`, from the struct o. */
static int from_py(Reader *r, PyObject *o, int level) {
    Line *L = &r->lines[level];
    memset(L, 0, sizeof *L);
    if (py_str(r, o, A_TYPE, &L->type) < 0) return -1;
    int kind = kind_of(r, &L->type), none;
    if (kind < 0) return -1;
    if (level == 0 && (py_str(r, o, A_CWD, &L->cwd) < 0 || py_str(r, o, A_GITBRANCH, &L->branch) < 0 ||
                       py_str(r, o, A_VERSION, &L->version) < 0))
        return -1;
    if (level > 0 && kind != K_ASSISTANT) return 0; /* a mirrored message: only a reply is read */
    if (kind == K_SUMMARY) return py_str(r, o, A_SUMMARY, &L->summary);
    if (kind == K_PROGRESS) {
        if (py_str(r, o, A_TIMESTAMP, &L->timestamp) < 0) return -1;
        PyObject *data = py_attr(o, A_DATA, &none);
        if (!data) return -1;
        PyObject *msg = none ? Py_NewRef(Py_None) : PyObject_GetAttr(data, A_MESSAGE);
        Py_DECREF(data);
        if (!msg) return -1;
        int rc = 0;
        if (msg != Py_None) {
            rc = from_py(r, msg, 1);
            L->inner = &r->lines[1];
        }
        Py_DECREF(msg);
        return rc;
    }
    if (kind != K_USER && kind != K_ASSISTANT) return 0;
    if (py_str(r, o, A_TIMESTAMP, &L->timestamp) < 0 || py_str(r, o, A_AGENTID, &L->agent) < 0 ||
        (L->side = py_is_true(o, A_ISSIDECHAIN)) < 0)
        return -1;
    PyObject *msg = py_attr(o, A_MESSAGE, &none);
    if (!msg) return -1;
    int rc = 0;
    L->has_message = !none;
    if (kind == K_USER) {
        int m1 = 0, m2 = 0, m3 = 0;
        if (py_str(r, o, A_UUID, &L->uuid) < 0 || (m1 = py_truthy(o, A_ISMETA)) < 0 ||
            (!m1 && (m2 = py_truthy(o, A_ISCOMPACT)) < 0) || (!m1 && !m2 && (m3 = py_truthy(o, A_ISVISIBLE)) < 0))
            rc = -1;
        L->meta = m1 || m2 || m3;
        if (!rc && !none) {
            PyObject *content = PyObject_GetAttr(msg, A_CONTENT);
            if (!content) {
                rc = -1;
            } else if (PyList_CheckExact(content)) {
                rc = py_blocks(r, content, L, 0);
            } else if (content != Py_None) {
                L->content = C_STR;
                L->content_str.obj = Py_NewRef(content);
                rc = keep(r, L->content_str.obj);
            }
            Py_XDECREF(content);
        }
        Py_DECREF(msg);
        return rc;
    }
    if (py_str(r, o, A_REQUESTID, &L->request_id) < 0) rc = -1;
    if (!rc && !none) {
        PyObject *content = NULL, *usage = NULL, *cache = NULL;
        rc = -1;
        if (py_str(r, msg, A_ID, &L->id) < 0 || py_str(r, msg, A_MODEL, &L->model) < 0) goto done;
        if (!(content = PyObject_GetAttr(msg, A_CONTENT))) goto done;
        if (PyList_CheckExact(content) && py_blocks(r, content, L, 1) < 0) goto done;
        if (!(usage = PyObject_GetAttr(msg, A_USAGE))) goto done;
        if (usage != Py_None) {
            L->has_usage = 1;
            if (py_count(r, usage, A_INPUT, &L->inp, &L->big_inp) < 0 ||
                py_count(r, usage, A_OUTPUT, &L->out, &L->big_out) < 0 ||
                py_count(r, usage, A_CREAD, &L->cread, &L->big_read) < 0 ||
                py_count(r, usage, A_CCREATE, &L->ccreate, NULL) < 0 ||
                py_str(r, usage, A_SPEED, &L->speed) < 0)
                goto done;
            if (!(cache = PyObject_GetAttr(usage, A_CACHE))) goto done;
            if (cache != Py_None) {
                L->has_cache = 1;
                if (py_count(r, cache, A_W5, &L->w5, NULL) < 0 || py_count(r, cache, A_W1, &L->w1, NULL) < 0)
                    goto done;
            }
        }
        rc = 0;
    done:
        Py_XDECREF(content);
        Py_XDECREF(usage);
        Py_XDECREF(cache);
    }
    Py_DECREF(msg);
    return rc;
}

/* == timestamps =========================================================================== */

static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* The common form YYYY-MM-DDTHH:MM:SS[.fff|.ffffff][Z|+00:00] (naive: UTC), fully range
 * checked, as ms since the epoch: 1; 0 for every other string (left to _ts). With r, the
 * day of the last date parsed is reused. */
static int parse_ts(Reader *r, const char *s, Py_ssize_t n, long long *out) {
    static const unsigned char dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const signed char pos[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    for (int i = 0; i < 14; i++)
        if (s[pos[i]] < '0' || s[pos[i]] > '9') return 0;
#define D2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
    int year = D2(0) * 100 + D2(2), month = D2(5), day = D2(8), hour = D2(11), minute = D2(14), sec = D2(17);
#undef D2
    if (hour > 23 || minute > 59 || sec > 59) return 0;
    long long days;
    if (r && memcmp(r->date, s, 10) == 0) {
        days = r->days;
    } else {
        if (year < 1 || month < 1 || month > 12 || day < 1) return 0;
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if (day > dim[month - 1] + (month == 2 && leap)) return 0;
        days = days_from_civil(year, (unsigned)month, (unsigned)day);
        if (r) {
            memcpy(r->date, s, 10);
            r->days = days;
        }
    }
    Py_ssize_t i = 19;
    int ms = 0;
    if (i < n && s[i] == '.') {
        Py_ssize_t k = i + 1;
        while (k < n && s[k] >= '0' && s[k] <= '9') k++;
        if (k - i - 1 != 3 && k - i - 1 != 6) return 0;
        ms = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');
        i = k;
    }
    if (!(i == n || (n - i == 1 && s[i] == 'Z') || (n - i == 6 && memcmp(s + i, "+00:00", 6) == 0))) return 0;
    *out = ((days * 24 + hour) * 60 + minute) * 60000LL + sec * 1000LL + ms;
    return 1;
}

/* _ts(value): 1 with the ms, 0 for None, -1 on error. */
static int get_ts(Reader *r, const Str *s, long long *out) {
    if (!str_present(s)) return 0;
    if (!s->obj && !s->esc && parse_ts(r, s->p, s->n, out)) return 1;
    PyObject *v = str_new(r, s);
    if (!v) return -1;
    PyObject *res = PyObject_CallOneArg(r->ts_func, v);
    Py_DECREF(v);
    if (!res) return -1;
    if (res == Py_None) {
        Py_DECREF(res);
        return 0;
    }
    *out = PyLong_AsLongLong(res);
    Py_DECREF(res);
    return *out == -1 && PyErr_Occurred() ? -1 : 1;
}

/* The line's ts as a borrowed int, made once. */
static PyObject *ts_int(Reader *r) {
    if (!r->ts_obj) r->ts_obj = PyLong_FromLongLong(r->ts);
    return r->ts_obj;
}

/* == the rules (claude_code.py's loop, in its order) ======================================= */

/* "side:" + str(agent or ""): a new reference */
static PyObject *side_key(Reader *r, const Str *agent) {
    int t = agent ? str_truthy(agent) : 0;
    if (t < 0) return NULL;
    if (!t) return PyUnicode_Concat(S_SIDE, S_EMPTY);
    Memo *m = &r->m_agent;
    PyObject *v = memo_get(r, m, agent); /* borrowed */
    if (!v) return NULL;
    if (v == m->obj && m->extra) return Py_NewRef(m->extra);
    PyObject *s = PyObject_Str(v);
    if (!s) return NULL;
    PyObject *key = PyUnicode_Concat(S_SIDE, s);
    Py_DECREF(s);
    if (key && v == m->obj) m->extra = Py_NewRef(key);
    return key;
}

/* _ClaudeFile.run_for: a new reference to the run id (None without a run), NULL on error. */
static PyObject *run_for(Reader *r, const Str *agent, int side) {
    PyObject *info = NULL;
    if (side) {
        PyObject *key = side_key(r, agent);
        if (!key) return NULL;
        info = PyDict_GetItemWithError(r->st_runs, key);
        Py_DECREF(key);
        if (!info && PyErr_Occurred()) return NULL;
    }
    if (!info) {
        info = PyDict_GetItemWithError(r->st_runs, S_EMPTY);
        if (!info) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    Py_INCREF(info);
    PyObject *run = NULL, *ts = ts_int(r), *end = ts ? PySequence_GetItem(info, 2) : NULL;
    if (!end) goto done;
    int gt, overflow = 0;
    long long e = PyLong_CheckExact(end) ? PyLong_AsLongLongAndOverflow(end, &overflow) : 0;
    if (PyLong_CheckExact(end) && !overflow && !(e == -1 && PyErr_Occurred()))
        gt = r->ts > e;
    else
        gt = PyObject_RichCompareBool(ts, end, Py_GT);
    Py_DECREF(end);
    if (gt < 0 || (gt && PySequence_SetItem(info, 2, ts) < 0)) goto done;
    if (!(run = PySequence_GetItem(info, 0))) goto done;
    int has = PyDict_Contains(r->runs, run);
    if (has == 0) {
        PyObject *t = PyTuple_Pack(2, info, Py_None);
        if (!t || PyDict_SetItem(r->runs, run, t) < 0) has = -1;
        Py_XDECREF(t);
    }
    if (has < 0) Py_CLEAR(run);
done:
    Py_DECREF(info);
    return run;
}

/* _ClaudeFile.open_run */
static int open_run(Reader *r, PyObject *text, PyObject *run_id, const Str *agent, int side) {
    PyObject *key, *info = NULL, *prompt = NULL, *t = NULL;
    int rc = -1;
    if (side) {
        if (!(key = side_key(r, agent))) return -1;
    } else {
        key = Py_NewRef(S_EMPTY);
        PyObject *keys = PyDict_Keys(r->st_runs);
        if (!keys) goto done;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
            PyObject *k = PyList_GET_ITEM(keys, i);
            int tr = PyObject_IsTrue(k);
            if (tr < 0 || (tr && PyDict_DelItem(r->st_runs, k) < 0)) {
                Py_DECREF(keys);
                goto done;
            }
        }
        Py_DECREF(keys);
    }
    PyObject *ts = ts_int(r);
    if (!ts) goto done;
    if (!(info = PyList_New(4))) goto done;
    PyList_SET_ITEM(info, 0, Py_NewRef(run_id));
    PyList_SET_ITEM(info, 1, Py_NewRef(ts));
    PyList_SET_ITEM(info, 2, Py_NewRef(ts));
    PyList_SET_ITEM(info, 3, PyBool_FromLong(side));
    if (PyDict_SetItem(r->st_runs, key, info) < 0) goto done;
    if (!(prompt = PySequence_GetSlice(text, 0, r->prompt_chars))) goto done;
    if (!(t = PyTuple_Pack(2, info, prompt))) goto done;
    rc = PyDict_SetItem(r->runs, run_id, t);
done:
    Py_DECREF(key);
    Py_XDECREF(info);
    Py_XDECREF(prompt);
    Py_XDECREF(t);
    return rc;
}

/* relpath:offset, with a prefix */
static PyObject *line_id(Reader *r, const char *prefix, PyObject *off_obj, long long off) {
    if (off_obj) return PyUnicode_FromFormat("%s%S:%S", prefix, r->relpath, off_obj);
    return PyUnicode_FromFormat("%s%S:%lld", prefix, r->relpath, off);
}

/* The str of the first `limit` characters of a span (validated), *whole when that is all. */
static PyObject *str_prefix(Reader *r, const Str *s, Py_ssize_t limit, int *whole) {
    const unsigned char *p = (const unsigned char *)s->p;
    Py_ssize_t i = 0, chars = 0;
    while (i < s->n && chars < limit) {
        unsigned char c = p[i];
        i += c == '\\' ? (p[i + 1] == 'u' ? 6 : 2) : c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        chars++;
    }
    *whole = i >= s->n;
    Str head = *s;
    head.n = i;
    return str_new(r, &head);
}

/* _prompt_text(msg.content): a new reference, a str or None. For a long string read here,
 * only a prefix when it gives the same `text[:prompt_chars]` and `text.lstrip().startswith(
 * not_prompts)`: at least prompt_chars characters, and after the leading whitespace at
 * least as many as the longest of not_prompts. */
static PyObject *prompt_text(Reader *r, const Line *L) {
    if (L->content != C_LIST) {
        if (L->content == C_NONE) return Py_NewRef(Py_None);
        int t = str_truthy(&L->content_str);
        if (t <= 0) return t < 0 ? NULL : Py_NewRef(Py_None);
        if (L->content_str.obj || r->not_prompt_len < 0) return str_new(r, &L->content_str);
        int whole;
        PyObject *head = str_prefix(r, &L->content_str, r->prompt_chars + r->not_prompt_len, &whole);
        if (!head || whole) return head;
        PyObject *rest = PyObject_CallMethodNoArgs(head, S_LSTRIP);
        if (!rest) {
            Py_DECREF(head);
            return NULL;
        }
        Py_ssize_t left = PyUnicode_GET_LENGTH(rest);
        Py_DECREF(rest);
        if (left >= r->not_prompt_len) return head;
        Py_DECREF(head);
        return str_new(r, &L->content_str);
    }
    PyObject *parts = PyList_New(0), *joined = NULL;
    if (!parts) return NULL;
    for (Py_ssize_t i = L->blk0; i < L->blk0 + L->nblk; i++) {
        const Block *b = &r->blocks[i];
        int eq = str_equals(r, &b->type, "text");
        if (eq < 0) goto done;
        if (eq && str_present(&b->text)) {
            PyObject *v = str_new(r, &b->text);
            if (!v || PyList_Append(parts, v) < 0) {
                Py_XDECREF(v);
                goto done;
            }
            Py_DECREF(v);
        }
    }
    joined = PyUnicode_Join(S_NL, parts);
    if (joined && PyUnicode_GET_LENGTH(joined) == 0) Py_SETREF(joined, Py_NewRef(Py_None));
done:
    Py_DECREF(parts);
    return joined;
}

static inline void see_ts(Reader *r, long long ts) {
    if (ts < r->first) r->first = ts;
    if (ts > r->last) r->last = ts;
}

static int user_line(Reader *r, Line *L, PyObject *off_obj, long long off) {
    int got = L->has_message ? get_ts(r, &L->timestamp, &r->ts) : 0;
    if (got < 0) return -1;
    if (!got) {
        r->n_malformed++;
        return 0;
    }
    see_ts(r, r->ts);
    int side = L->side;
    if (L->content == C_LIST) {
        int answered = 0;
        for (Py_ssize_t i = L->blk0; i < L->blk0 + L->nblk; i++) {
            const Block *b = &r->blocks[i];
            int eq = str_equals(r, &b->type, "tool_result");
            if (eq < 0) return -1;
            if (!eq) continue;
            answered = 1;
            if (!str_present(&b->id)) continue;
            PyObject *tid = str_new(r, &b->id);
            if (!tid) return -1;
            PyObject *rec = PyDict_GetItemWithError(r->tools, tid);
            int rc = 0;
            if (rec) {
                Py_INCREF(rec);
            } else if (!PyErr_Occurred()) {
                PyObject *pending = PyDict_GetItemWithError(r->open_tools, tid);
                if (pending) { /* its tool_use was in a past chunk */
                    Py_INCREF(pending);
                    rec = PyList_New(5);
                    for (Py_ssize_t j = 0; rec && j < 5; j++) {
                        PyObject *v = j < 3 ? PySequence_GetItem(pending, j) : Py_NewRef(Py_None);
                        if (!v) Py_CLEAR(rec);
                        else PyList_SET_ITEM(rec, j, v);
                    }
                    Py_DECREF(pending);
                    if (!rec || PyDict_SetItem(r->tools, tid, rec) < 0) rc = -1;
                } else if (PyErr_Occurred()) {
                    rc = -1;
                }
            } else {
                rc = -1;
            }
            if (!rc && rec) {
                PyObject *ended = PySequence_GetItem(rec, 3), *ts = ts_int(r);
                if (!ended || !ts) {
                    rc = -1;
                } else if (ended == Py_None) {
                    if (PySequence_SetItem(rec, 3, ts) < 0 ||
                        PySequence_SetItem(rec, 4, b->is_error ? Py_False : Py_True) < 0)
                        rc = -1;
                }
                Py_XDECREF(ended);
            }
            Py_XDECREF(rec);
            Py_DECREF(tid);
            if (rc) return -1;
        }
        if (answered) {
            PyObject *run = run_for(r, &L->agent, side);
            Py_XDECREF(run);
            return run ? 0 : -1;
        }
    }
    if (!L->meta) {
        PyObject *text = prompt_text(r, L);
        if (!text) return -1;
        int real = text == Py_None ? 0 : PyObject_IsTrue(text);
        if (real > 0) {
            PyObject *lstripped = PyObject_CallMethodNoArgs(text, S_LSTRIP);
            PyObject *starts = lstripped ? PyObject_CallMethodOneArg(lstripped, S_STARTSWITH, r->not_prompts) : NULL;
            real = starts ? !PyObject_IsTrue(starts) : -1;
            Py_XDECREF(lstripped);
            Py_XDECREF(starts);
        }
        if (real > 0) {
            int has_uuid = str_truthy(&L->uuid);
            PyObject *run_id = has_uuid > 0 ? str_new(r, &L->uuid) : has_uuid == 0 ? line_id(r, "", off_obj, off) : NULL;
            int rc = run_id ? open_run(r, text, run_id, &L->agent, side) : -1;
            Py_XDECREF(run_id);
            Py_DECREF(text);
            return rc;
        }
        Py_DECREF(text);
        if (real < 0) return -1;
    }
    PyObject *run = run_for(r, &L->agent, side); /* meta lines, command output, caveats, ... */
    if (!run) return -1;
    Py_DECREF(run);
    r->n_other++;
    return 0;
}

/* An assistant reply (A: the line, or the progress line's mirrored message): usage, tool uses. */
static int reply_line(Reader *r, Line *A, int mirrored, PyObject *off_obj, long long off) {
    if (!A->has_message || !A->has_usage) {
        r->n_other++;
        return 0;
    }
    long long inp = A->inp, out = A->out; /* a big one is >= 0 (and 0 here) */
    if (inp < 0 || out < 0) {
        if (inp == -1 && out == -1) {
            r->n_other++;
            return 0;
        }
        if (inp < 0) inp = 0;
        if (out < 0) out = 0;
    }
    int got = get_ts(r, &A->timestamp, &r->ts);
    if (got <= 0) {
        if (!got) r->n_malformed++;
        return got;
    }
    see_ts(r, r->ts);
    int side = mirrored ? 1 : A->side;
    PyObject *run = mirrored ? run_for(r, NULL, 0) : run_for(r, &A->agent, side);
    if (!run) return -1;
    PyObject *key = NULL, *mid = NULL, *total = NULL, *fields = NULL, *value = NULL;
    PyObject *counts[5] = {NULL, NULL, NULL, NULL, NULL}; /* inp, out, read, w5, w1 as ints */
    int rc = -1;
    if (!mirrored && A->content == C_LIST) {
        for (Py_ssize_t i = A->blk0; i < A->blk0 + A->nblk; i++) {
            const Block *b = &r->blocks[i];
            int eq = str_equals(r, &b->type, "tool_use"), t = eq > 0 ? str_truthy(&b->id) : 0;
            if (eq < 0 || t < 0) goto done;
            if (!t) continue;
            PyObject *tid = str_new(r, &b->id);
            if (!tid) goto done;
            int has = PyDict_Contains(r->tools, tid), bad = has < 0;
            if (has == 0) {
                int nt = str_truthy(&b->name);
                PyObject *name = nt > 0 ? str_new(r, &b->name) : nt == 0 ? Py_NewRef(S_EMPTY) : NULL;
                PyObject *ts = ts_int(r), *rec = name && ts ? PyList_New(5) : NULL;
                if (rec) {
                    PyList_SET_ITEM(rec, 0, name);
                    name = NULL;
                    PyList_SET_ITEM(rec, 1, Py_NewRef(ts));
                    PyList_SET_ITEM(rec, 2, Py_NewRef(run));
                    PyList_SET_ITEM(rec, 3, Py_NewRef(Py_None));
                    PyList_SET_ITEM(rec, 4, Py_NewRef(Py_None));
                }
                bad = !rec || PyDict_SetItem(r->tools, tid, rec) < 0;
                Py_XDECREF(name);
                Py_XDECREF(rec);
            }
            Py_DECREF(tid);
            if (bad) goto done;
        }
    }
    int has_model = str_truthy(&A->model);
    if (has_model < 0) goto done;
    PyObject *name = has_model ? memo_get(r, &r->m_model, &A->model) : S_UNKNOWN; /* borrowed */
    if (!name) goto done;
    int synthetic = PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "<synthetic>") == 0;
    if (!synthetic) {
        if (side) Py_XSETREF(r->side_model, Py_NewRef(name));
        else Py_XSETREF(r->model, Py_NewRef(name));
    }
    long long w5 = A->has_cache ? A->w5 : A->ccreate, w1 = A->has_cache ? A->w1 : 0, read = A->cread;
    int has_mid = str_truthy(&A->id);
    if (has_mid < 0) goto done;
    if (!has_mid) {
        mid = Py_NewRef(Py_None);
        key = line_id(r, "anthropic-line:", off_obj, off);
    } else {
        Memo *m = &r->m_mid;
        PyObject *o = memo_get(r, m, &A->id);
        if (!o) goto done;
        mid = Py_NewRef(o);
        if (o == m->obj) {
            if (!m->extra) m->extra = PyUnicode_Concat(S_ANTHROPIC_PFX, o);
            key = Py_XNewRef(m->extra);
        } else {
            key = PyUnicode_Concat(S_ANTHROPIC_PFX, o);
        }
    }
    if (!key) goto done;
    const long long parts[5] = {inp, out, read, w5, w1};
    PyObject *const bigs[5] = {A->big_inp, A->big_out, A->big_read, NULL, NULL};
    unsigned long long sum = 0;
    int big = 0;
    for (int i = 0; i < 5; i++) {
        counts[i] = bigs[i] ? Py_NewRef(bigs[i]) : PyLong_FromLongLong(parts[i]);
        if (!counts[i]) goto done;
        if (bigs[i] || sum > ULLONG_MAX - (unsigned long long)parts[i]) big = 1;
        sum += (unsigned long long)parts[i];
    }
    if (!big && sum <= (unsigned long long)LLONG_MAX) {
        total = PyLong_FromLongLong((long long)sum);
    } else { /* beyond 64 bits: Python ints */
        total = Py_NewRef(counts[0]);
        for (int i = 1; total && i < 5; i++) Py_SETREF(total, PyNumber_Add(total, counts[i]));
    }
    if (!total) goto done;
    r->n_api++;
    PyObject *prev = PyDict_GetItemWithError(r->api, key);
    int insert;
    if (!prev) {
        if (PyErr_Occurred()) goto done;
        insert = 1;
    } else { /* of this file's copies, the one supersedes() prefers stays */
        Py_INCREF(prev);
        PyObject *p0 = PySequence_GetItem(prev, 0), *p1 = p0 ? PySequence_GetItem(prev, 1) : NULL;
        Py_DECREF(prev);
        insert = p1 ? PyObject_RichCompareBool(total, p0, Py_GT) : -1;
        if (insert == 0) {
            insert = PyObject_RichCompareBool(total, p0, Py_EQ);
            if (insert > 0) insert = PyObject_IsTrue(p1);
            if (insert > 0) insert = !side;
        }
        Py_XDECREF(p0);
        Py_XDECREF(p1);
        if (insert < 0) goto done;
    }
    if (insert) {
        int has_req = str_truthy(&A->request_id);
        PyObject *req = has_req > 0 ? memo_get(r, &r->m_req, &A->request_id) : has_req == 0 ? Py_None : NULL;
        PyObject *speed = str_present(&A->speed) ? memo_get(r, &r->m_speed, &A->speed) : Py_None;
        PyObject *ts = ts_int(r);
        if (!req || !speed || !ts || !(fields = PyTuple_New(18))) goto done;
        PyObject *items[18] = {r->agent, S_ANTHROPIC, key, r->sid, run, ts, name, counts[0], counts[1],
                               counts[2], counts[3], counts[4], L_ZERO, req, mid, side ? Py_True : Py_False,
                               synthetic ? Py_True : Py_False, speed};
        for (int i = 0; i < 18; i++) PyTuple_SET_ITEM(fields, i, Py_NewRef(items[i]));
        if (!(value = PyTuple_Pack(3, total, side ? Py_True : Py_False, fields))) goto done;
        if (PyDict_SetItem(r->api, key, value) < 0) goto done;
    }
    rc = 0;
done:
    Py_DECREF(run);
    Py_XDECREF(key);
    Py_XDECREF(mid);
    Py_XDECREF(total);
    Py_XDECREF(fields);
    Py_XDECREF(value);
    for (int i = 0; i < 5; i++) Py_XDECREF(counts[i]);
    return rc;
}

/* Keep a truthy value: `cur = value or cur`. */
static int keep_truthy(Reader *r, Memo *m, const Str *s, PyObject **cur) {
    int t = str_truthy(s);
    if (t <= 0) return t;
    PyObject *o = memo_get(r, m, s);
    if (!o) return -1;
    Py_XSETREF(*cur, Py_NewRef(o));
    return 0;
}

static int rules(Reader *r, PyObject *off_obj, long long off) {
    Line *L = &r->lines[0];
    if (keep_truthy(r, &r->m_cwd, &L->cwd, &r->cwd) < 0 || keep_truthy(r, &r->m_branch, &L->branch, &r->branch) < 0 ||
        keep_truthy(r, &r->m_version, &L->version, &r->version) < 0)
        return -1;
    int kind = kind_of(r, &L->type);
    switch (kind) {
    case -1:
        return -1;
    case K_USER:
        return user_line(r, L, off_obj, off);
    case K_ASSISTANT:
        return reply_line(r, L, 0, off_obj, off);
    case K_PROGRESS: { /* newer CLIs mirror sub-agent replies: a sidechain copy */
        long long ts;
        int got = get_ts(r, &L->timestamp, &ts);
        if (got < 0) return -1;
        if (got) see_ts(r, ts);
        int inner = L->inner ? kind_of(r, &L->inner->type) : K_NONE;
        if (inner < 0) return -1;
        if (inner != K_ASSISTANT) {
            r->n_other++;
            return 0;
        }
        return reply_line(r, L->inner, 1, off_obj, off);
    }
    default:
        if (kind == K_SUMMARY && str_present(&L->summary)) {
            int t = r->title ? PyObject_IsTrue(r->title) : 0;
            if (t < 0) return -1;
            if (!t) {
                PyObject *s = str_new(r, &L->summary);
                if (!s) return -1;
                Py_XSETREF(r->title, s);
            }
        }
        r->n_other++;
        return 0;
    }
}

/* One line: read it (C, else Python) and apply the rules. 0, -1 on error. */
static int process_line(Reader *r, const char *s, Py_ssize_t n, PyObject *line_obj, PyObject *off_obj, long long off) {
    if (!shape_ok(s, n)) {
        r->n_malformed++;
        return 0;
    }
    int schema = route(s, n);
    if (schema == S_NONE) {
        r->n_other++;
        return 0;
    }
    int rc = scan_line(r, s, n, schema);
    if (rc == OK) { /* a line of the other kind goes the generic path */
        int kind = kind_of(r, &r->lines[0].type);
        if (kind < 0) rc = ERR;
        else if (kind == (schema == S_USER ? K_ASSISTANT : K_USER)) rc = BAIL;
    }
    if (rc == BAIL) {
        line_done(r);
        PyObject *arg = line_obj ? Py_NewRef(line_obj) : PyBytes_FromStringAndSize(s, n);
        PyObject *o = arg ? PyObject_CallOneArg(r->decode_line, arg) : NULL;
        Py_XDECREF(arg);
        if (!o) return -1;
        if (o == Py_None || o == r->not_read) {
            if (o == Py_None) r->n_malformed++;
            else r->n_other++;
            Py_DECREF(o);
            return 0;
        }
        if (keep(r, o) < 0) return -1;
        rc = from_py(r, o, 0) < 0 ? ERR : OK;
    }
    if (rc == OK) rc = rules(r, off_obj, off) < 0 ? ERR : OK;
    line_done(r);
    return rc == OK ? 0 : -1;
}

/* == the drivers ============================================================================ */

static PyObject *get_dict(PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (v && !PyDict_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%U must be a dict", name);
        Py_CLEAR(v);
    }
    return v;
}

static int get_ll(PyObject *o, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static void reader_free(Reader *r) {
    line_done(r);
    Py_CLEAR(r->state);
    Py_CLEAR(r->api);
    Py_CLEAR(r->tools);
    Py_CLEAR(r->runs);
    Py_CLEAR(r->st_runs);
    Py_CLEAR(r->open_tools);
    Py_CLEAR(r->relpath);
    Py_CLEAR(r->sid);
    Py_CLEAR(r->model);
    Py_CLEAR(r->side_model);
    Py_CLEAR(r->title);
    Py_CLEAR(r->cwd);
    Py_CLEAR(r->branch);
    Py_CLEAR(r->version);
    PyMem_Free(r->blocks);
    PyMem_Free(r->refs);
    PyMem_Free(r->tmp);
    Memo *memos[] = {&r->m_cwd,   &r->m_branch, &r->m_version, &r->m_model,
                     &r->m_req,   &r->m_speed,  &r->m_mid,     &r->m_agent};
    for (size_t i = 0; i < sizeof memos / sizeof *memos; i++) memo_clear(memos[i]);
}

/* config: _C_CONFIG of claude_code.py */
static int reader_init(Reader *r, PyObject *parser, PyObject *config, Py_ssize_t *max_line, Py_ssize_t *chunk) {
    memset(r, 0, sizeof *r);
    if (!PyTuple_Check(config) || PyTuple_GET_SIZE(config) != 8) {
        PyErr_SetString(PyExc_TypeError, "config must be claude_code._C_CONFIG");
        return -1;
    }
    r->decode_line = PyTuple_GET_ITEM(config, 0);
    r->ts_func = PyTuple_GET_ITEM(config, 1);
    r->not_read = PyTuple_GET_ITEM(config, 2);
    r->not_prompts = PyTuple_GET_ITEM(config, 3);
    r->prompt_chars = PyLong_AsSsize_t(PyTuple_GET_ITEM(config, 4));
    r->agent = PyTuple_GET_ITEM(config, 5);
    r->not_prompt_len = PyTuple_Check(r->not_prompts) && r->prompt_chars >= 0 ? 0 : -1;
    for (Py_ssize_t i = 0; r->not_prompt_len >= 0 && i < PyTuple_GET_SIZE(r->not_prompts); i++) {
        PyObject *np = PyTuple_GET_ITEM(r->not_prompts, i);
        if (!PyUnicode_CheckExact(np)) r->not_prompt_len = -1;
        else if (PyUnicode_GET_LENGTH(np) > r->not_prompt_len) r->not_prompt_len = PyUnicode_GET_LENGTH(np);
    }
    Py_ssize_t ml = PyLong_AsSsize_t(PyTuple_GET_ITEM(config, 6)), ch = PyLong_AsSsize_t(PyTuple_GET_ITEM(config, 7));
    if (PyErr_Occurred()) return -1;
    if (max_line) *max_line = ml;
    if (chunk) *chunk = ch;
    r->parser = parser;
    if (!(r->state = PyObject_GetAttr(parser, A_STATE)) || !(r->api = get_dict(parser, A_API)) ||
        !(r->tools = get_dict(parser, A_TOOLS)) || !(r->runs = get_dict(parser, A_RUNS)) ||
        !(r->st_runs = get_dict(r->state, A_RUNS)) || !(r->open_tools = get_dict(r->state, A_OPEN_TOOLS)) ||
        !(r->relpath = PyObject_GetAttr(parser, A_RELPATH)) || !(r->sid = PyObject_GetAttr(parser, A_SESSION_ID)) ||
        !(r->model = PyObject_GetAttr(parser, A_MODEL)) || !(r->side_model = PyObject_GetAttr(parser, A_SIDE_MODEL)) ||
        !(r->title = PyObject_GetAttr(parser, A_TITLE)) || !(r->cwd = PyObject_GetAttr(r->state, A_CWD)) ||
        !(r->branch = PyObject_GetAttr(r->state, A_GIT_BRANCH)) || !(r->version = PyObject_GetAttr(r->state, A_VERSION)) ||
        get_ll(parser, A_FIRST_TS, &r->first) < 0 || get_ll(parser, A_LAST_TS, &r->last) < 0)
        return -1;
    /* None stays None (a NULL in r->title etc. would mean "not set") */
    return 0;
}

static int add_stat(PyObject *stats, PyObject *name, long long n) {
    if (!n) return 0;
    PyObject *v = PyObject_GetAttr(stats, name);
    if (!v) return -1;
    PyObject *d = PyLong_FromLongLong(n), *s = d ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v);
    Py_XDECREF(d);
    int rc = s ? PyObject_SetAttr(stats, name, s) : -1;
    Py_XDECREF(s);
    return rc;
}

/* The counters into stats; on success also the running values into the parser. */
static int reader_finish(Reader *r, PyObject *stats, int ok) {
    SavedErr exc;
    if (!ok) err_save(&exc);
    int rc = add_stat(stats, A_MALFORMED, r->n_malformed) | add_stat(stats, A_OTHER, r->n_other) |
             add_stat(stats, A_API_LINES, r->n_api);
    if (ok && !rc) {
        PyObject *first = PyLong_FromLongLong(r->first), *last = PyLong_FromLongLong(r->last);
        rc = !first || !last || PyObject_SetAttr(r->parser, A_FIRST_TS, first) < 0 ||
             PyObject_SetAttr(r->parser, A_LAST_TS, last) < 0 || PyObject_SetAttr(r->parser, A_MODEL, r->model) < 0 ||
             PyObject_SetAttr(r->parser, A_SIDE_MODEL, r->side_model) < 0 ||
             PyObject_SetAttr(r->parser, A_TITLE, r->title) < 0 || PyObject_SetAttr(r->state, A_CWD, r->cwd) < 0 ||
             PyObject_SetAttr(r->state, A_GIT_BRANCH, r->branch) < 0 || PyObject_SetAttr(r->state, A_VERSION, r->version) < 0;
        Py_XDECREF(first);
        Py_XDECREF(last);
    }
    if (!ok) {
        err_restore(&exc);
        return -1;
    }
    return rc ? -1 : 0;
}

PyDoc_STRVAR(read_lines_doc,
             "read_lines(parser, lines, stats, config)\n--\n\n"
             "_ClaudeFile._read_python(lines, stats) of claude_code.py: lines is an iterable of\n"
             "(offset, line bytes); config is claude_code._C_CONFIG.");

static PyObject *read_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "read_lines(parser, lines, stats, config)");
        return NULL;
    }
    Reader r;
    int ok = reader_init(&r, args[0], args[3], NULL, NULL) == 0;
    PyObject *it = ok ? PyObject_GetIter(args[1]) : NULL, *item;
    if (!it) ok = 0;
    while (ok && (item = PyIter_Next(it))) {
        PyObject *off = NULL, *line = NULL;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            off = PyTuple_GET_ITEM(item, 0);
            line = PyTuple_GET_ITEM(item, 1);
        } else {
            PyErr_SetString(PyExc_TypeError, "lines must yield (offset, line) tuples");
        }
        Py_buffer view;
        if (line && PyObject_GetBuffer(line, &view, PyBUF_SIMPLE) == 0) {
            ok = process_line(&r, view.buf, view.len, line, off, 0) == 0;
            PyBuffer_Release(&view);
        } else {
            ok = 0;
        }
        Py_DECREF(item);
    }
    if (ok && PyErr_Occurred()) ok = 0; /* the iterator raised */
    Py_XDECREF(it);
    ok = reader_finish(&r, args[2], ok) == 0;
    reader_free(&r);
    return ok ? Py_NewRef(Py_None) : NULL;
}

/* readinto(buf[at:at+n]): the bytes read, -1 on error */
static Py_ssize_t read_into(PyObject *readinto, char *at, Py_ssize_t n) {
    PyObject *mv = PyMemoryView_FromMemory(at, n, PyBUF_WRITE);
    if (!mv) return -1;
    PyObject *res = PyObject_CallOneArg(readinto, mv);
    SavedErr exc; /* the view must not outlive buf, even held by a traceback */
    if (!res) err_save(&exc);
    PyObject *rel = PyObject_CallMethodNoArgs(mv, S_RELEASE);
    Py_DECREF(mv);
    if (!res) {
        Py_XDECREF(rel);
        err_restore(&exc);
        return -1;
    }
    if (!rel) {
        Py_DECREF(res);
        return -1;
    }
    Py_DECREF(rel);
    Py_ssize_t got = res == Py_None ? 0 : PyLong_AsSsize_t(res);
    Py_DECREF(res);
    if (got == -1 && PyErr_Occurred()) return -1;
    if (got < 0 || got > n) {
        PyErr_SetString(PyExc_ValueError, "readinto returned a bad count");
        return -1;
    }
    return got;
}

PyDoc_STRVAR(read_file_doc,
             "read_file(parser, readinto, start_offset, stats, config)\n--\n\n"
             "_ClaudeFile._read_python(iter_lines_buffered(f, path, start_offset, stats), stats)\n"
             "with f read through readinto(memoryview) -> count (0 at the end): the same lines,\n"
             "offsets and stats.lines/bytes/skipped_huge, without a Python object per line.");

static PyObject *read_file(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "read_file(parser, readinto, start_offset, stats, config)");
        return NULL;
    }
    long long start = PyLong_AsLongLong(args[2]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    Reader r;
    Py_ssize_t max_line = 0, chunk = 0;
    int ok = reader_init(&r, args[0], args[4], &max_line, &chunk) == 0;
    if (ok && (max_line < 1 || chunk < 1)) {
        PyErr_SetString(PyExc_ValueError, "bad config");
        ok = 0;
    }
    char *buf = NULL;
    Py_ssize_t cap = 0, len = 0, ls = 0, scan = 0; /* data [0, len); the current line starts at ls */
    long long base = start, nlines = 0, huge = 0;  /* base: the file offset of buf[0] */
    while (ok) {
        char *nl;
        while ((nl = scan < len ? memchr(buf + scan, '\n', (size_t)(len - scan)) : NULL)) {
            Py_ssize_t n = nl - (buf + ls);
            nlines++;
            if (n > max_line) huge++;
            else if (process_line(&r, buf + ls, n, NULL, NULL, base + ls) < 0) {
                ok = 0;
                break;
            }
            ls = scan = nl - buf + 1;
        }
        if (!ok) break;
        scan = len;
        if (len - ls > max_line) { /* a huge line: skip to its newline without holding it */
            long long from = base + ls;
            base += len;
            len = ls = scan = 0;
            for (;;) {
                Py_ssize_t got = read_into(args[1], buf, cap);
                if (got < 0) ok = 0;
                if (got <= 0) break;
                nl = memchr(buf, '\n', (size_t)got);
                if (nl) {
                    nlines++;
                    huge++;
                    len = got;
                    ls = scan = nl - buf + 1;
                    break;
                }
                base += got;
            }
            if (!ok) break;
            if (!len) { /* it never ended: leave it for a later read */
                base = from;
                ls = 0;
                break;
            }
            continue;
        }
        if (ls) { /* keep the partial line at the start */
            memmove(buf, buf + ls, (size_t)(len - ls));
            base += ls;
            len -= ls;
            scan -= ls;
            ls = 0;
        }
        if (cap - len < chunk && grow((void **)&buf, &cap, len + chunk, 1) < 0) {
            ok = 0;
            break;
        }
        Py_ssize_t got = read_into(args[1], buf + len, chunk);
        if (got < 0) ok = 0;
        if (got <= 0) break; /* the end: a last line without newline stays unread */
        len += got;
    }
    PyMem_Free(buf);
    /* iter_lines_buffered's stats, set even when a read fails */
    SavedErr exc;
    if (!ok) err_save(&exc);
    int srow = add_stat(args[3], A_LINES, nlines) | add_stat(args[3], A_HUGE, huge);
    PyObject *nb = PyLong_FromLongLong(base + ls - start);
    srow |= !nb || PyObject_SetAttr(args[3], A_BYTES, nb) < 0;
    Py_XDECREF(nb);
    if (!ok) err_restore(&exc);
    else if (srow) ok = 0;
    ok = reader_finish(&r, args[3], ok) == 0;
    reader_free(&r);
    return ok ? Py_NewRef(Py_None) : NULL;
}

PyDoc_STRVAR(parse_ts_doc, "parse_ts(s)\n--\n\nThe C timestamp parse: ms, or None when left to _ts (tests).");

static PyObject *py_parse_ts(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    long long ms;
    if (!s) return NULL;
    if (!parse_ts(NULL, s, n, &ms)) Py_RETURN_NONE;
    return PyLong_FromLongLong(ms);
}

PyDoc_STRVAR(scan_doc, "scan(line)\n--\n\nHow C reads a line (tests): 'fast', 'python', 'malformed' or 'not read'.");

static PyObject *py_scan(PyObject *self, PyObject *arg) {
    (void)self;
    char *s;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &s, &n) < 0) return NULL;
    if (!shape_ok(s, n)) return PyUnicode_FromString("malformed");
    int schema = route(s, n);
    if (schema == S_NONE) return PyUnicode_FromString("not read");
    Reader r;
    memset(&r, 0, sizeof r);
    int rc = scan_line(&r, s, n, schema);
    if (rc == OK) {
        int kind = kind_of(&r, &r.lines[0].type);
        if (kind < 0) rc = ERR;
        else if (kind == (schema == S_USER ? K_ASSISTANT : K_USER)) rc = BAIL;
    }
    reader_free(&r);
    if (rc == ERR) return NULL;
    return PyUnicode_FromString(rc == OK ? "fast" : "python");
}

static PyMethodDef methods[] = {
    {"read_lines", (PyCFunction)(void (*)(void))read_lines, METH_FASTCALL, read_lines_doc},
    {"read_file", (PyCFunction)(void (*)(void))read_file, METH_FASTCALL, read_file_doc},
    {"parse_ts", py_parse_ts, METH_O, parse_ts_doc},
    {"scan", py_scan, METH_O, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_claude_read",
    "The Claude Code transcript reader of claude_code.py in C (its Python loop is the specification).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__claude_read(void) {
    for (int i = 0; i < 256; i++) STR_STOP[i] = i < 0x20 || i == '"' || i == '\\';
    struct {
        PyObject **slot;
        const char *s;
    } names[] = {
        {&S_EMPTY, ""}, {&S_SIDE, "side:"}, {&S_NL, "\n"}, {&S_ANTHROPIC, "anthropic"},
        {&S_ANTHROPIC_PFX, "anthropic:"}, {&S_UNKNOWN, "unknown"}, {&S_LSTRIP, "lstrip"},
        {&S_STARTSWITH, "startswith"}, {&S_RELEASE, "release"}, {&A_TYPE, "type"},
        {&A_TIMESTAMP, "timestamp"}, {&A_ISSIDECHAIN, "isSidechain"}, {&A_AGENTID, "agentId"},
        {&A_CWD, "cwd"}, {&A_GITBRANCH, "gitBranch"}, {&A_VERSION, "version"}, {&A_DATA, "data"},
        {&A_SUMMARY, "summary"}, {&A_REQUESTID, "requestId"}, {&A_MESSAGE, "message"},
        {&A_UUID, "uuid"}, {&A_ISMETA, "isMeta"}, {&A_ISCOMPACT, "isCompactSummary"},
        {&A_ISVISIBLE, "isVisibleInTranscriptOnly"}, {&A_CONTENT, "content"}, {&A_ID, "id"},
        {&A_MODEL, "model"}, {&A_USAGE, "usage"}, {&A_NAME, "name"}, {&A_TOOL_USE_ID, "tool_use_id"},
        {&A_IS_ERROR, "is_error"}, {&A_TEXT, "text"}, {&A_INPUT, "input_tokens"},
        {&A_OUTPUT, "output_tokens"}, {&A_CREAD, "cache_read_input_tokens"},
        {&A_CCREATE, "cache_creation_input_tokens"}, {&A_CACHE, "cache_creation"},
        {&A_W5, "ephemeral_5m_input_tokens"}, {&A_W1, "ephemeral_1h_input_tokens"}, {&A_SPEED, "speed"},
        {&A_STATE, "state"}, {&A_API, "api"}, {&A_TOOLS, "tools"}, {&A_RUNS, "runs"},
        {&A_OPEN_TOOLS, "open_tools"}, {&A_RELPATH, "relpath"}, {&A_SESSION_ID, "session_id"},
        {&A_FIRST_TS, "first_ts"}, {&A_LAST_TS, "last_ts"}, {&A_SIDE_MODEL, "side_model"},
        {&A_TITLE, "title"}, {&A_GIT_BRANCH, "git_branch"}, {&A_MALFORMED, "skipped_malformed"},
        {&A_OTHER, "skipped_other"}, {&A_API_LINES, "api_lines"}, {&A_LINES, "lines"},
        {&A_BYTES, "bytes"}, {&A_HUGE, "skipped_huge"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!*names[i].slot && !(*names[i].slot = PyUnicode_InternFromString(names[i].s))) return NULL;
    }
    if (!L_ZERO && !(L_ZERO = PyLong_FromLong(0))) return NULL;
    return PyModule_Create(&module);
}
