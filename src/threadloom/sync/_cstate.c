/* The calling thread's threadloom.sync state, kept in the thread state's dict.
 *
 * Why C: every uncontended acquisition of an instrumented Lock or RLock must find the
 * calling thread's state, and the release of an RLock must too.  In pure Python the
 * cheapest per-thread lookup is an attribute of a threading.local, and on the
 * benchmark's path (benchmarks/bench_sync.py) each one costs about 0.3x an uncontended
 * `with threading.Lock():` on 3.11 and 3.13, which alone put the RLock over the 2.5x
 * budget.  PyThreadState_GetDict() is the per-thread dictionary the C API keeps for
 * this purpose; a call here costs what a ContextVar.get() does (~0.1x).  A ContextVar
 * cannot serve: a context copied in one thread and run in another (asyncio.to_thread)
 * would hand that thread the first one's state.
 *
 * The dictionary is cleared when its thread ends, before the thread's ident can be
 * reused, so a new thread never finds a dead thread's state; after a fork the forking
 * thread keeps its own, as it keeps its threading.local attributes.
 *
 * Optional: _state.py falls back to a threading.local when this module is missing
 * (built without a compiler, or imported by an interpreter that refuses single-phase
 * modules, such as an isolated subinterpreter).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *key; /* interned "threadloom.sync.state" */
/* interned "threadloom.sync.state_factory": the factory is kept in the interpreter's
 * dict, not in a C global, since a legacy subinterpreter (mod_wsgi) shares this module's
 * C state but must call its own interpreter's function. */
static PyObject *factory_key;

PyDoc_STRVAR(current_doc,
"current()\n--\n\n"
"The object set() stored for the calling thread; if none, what the factory returns.");

/* METH_FASTCALL rather than METH_NOARGS: 3.11's interpreter specialises calls of
 * fastcall builtins (PRECALL_BUILTIN_FAST), not of noargs ones. */
static PyObject *
current(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError, "current() takes no arguments");
        return NULL;
    }
    PyObject *dict = PyThreadState_GetDict();  /* borrowed */
    if (dict != NULL) {
        PyObject *value = PyDict_GetItemWithError(dict, key);  /* borrowed */
        if (value != NULL) {
            Py_INCREF(value);
            return value;
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    /* First use in this thread: threadloom.sync._state.new_state makes the state and
     * stores it with set(). */
    PyObject *interp = PyInterpreterState_GetDict(PyInterpreterState_Get());
    PyObject *factory = interp == NULL ? NULL : PyDict_GetItemWithError(interp, factory_key);
    if (factory == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "threadloom.sync._cstate: no factory set");
        }
        return NULL;
    }
    Py_INCREF(factory);  /* the call may replace it in the dict */
    PyObject *state = PyObject_CallNoArgs(factory);
    Py_DECREF(factory);
    return state;
}

PyDoc_STRVAR(set_factory_doc,
"set_factory(factory)\n--\n\n"
"What current() calls in a thread that has no state yet.");

static PyObject *
set_factory(PyObject *module, PyObject *value)
{
    PyObject *interp = PyInterpreterState_GetDict(PyInterpreterState_Get());
    if (interp == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no interpreter state dictionary");
        return NULL;
    }
    if (PyDict_SetItem(interp, factory_key, value) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_doc,
"set(value)\n--\n\n"
"Store value for the calling thread (until the thread ends).");

static PyObject *
set(PyObject *module, PyObject *value)
{
    PyObject *dict = PyThreadState_GetDict();  /* borrowed */
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no thread state dictionary");
        return NULL;
    }
    if (PyDict_SetItem(dict, key, value) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"current", (PyCFunction)(void (*)(void))current, METH_FASTCALL, current_doc},
    {"set", set, METH_O, set_doc},
    {"set_factory", set_factory, METH_O, set_factory_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "threadloom.sync._cstate",
    "The calling thread's threadloom.sync state, kept in the thread state's dict.",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__cstate(void)
{
    if (key == NULL) {
        key = PyUnicode_InternFromString("threadloom.sync.state");
        if (key == NULL) {
            return NULL;
        }
    }
    if (factory_key == NULL) {
        factory_key = PyUnicode_InternFromString("threadloom.sync.state_factory");
        if (factory_key == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module);
}
