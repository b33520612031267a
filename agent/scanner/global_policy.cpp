// Allow and deny tables for pickle globals. Deny entries match the name itself or anything
// below it ("os" covers "os.system" and "os.path.join"), so dotted tricks cannot slip past.
#include "scanner/global_policy.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace mw::scanner {
namespace {

using Pair = std::pair<std::string_view, std::string_view>;

// CPython Lib/_compat_pickle.py IMPORT_MAPPING (the entries that matter for code execution
// and for the allow list).
constexpr std::array<Pair, 30> import_mapping{{
    {"__builtin__", "builtins"}, {"copy_reg", "copyreg"}, {"cPickle", "pickle"}, {"Queue", "queue"},
    {"SocketServer", "socketserver"}, {"ConfigParser", "configparser"}, {"repr", "reprlib"},
    {"FileDialog", "tkinter.filedialog"}, {"tkFileDialog", "tkinter.filedialog"}, {"Tkinter", "tkinter"},
    {"markupbase", "_markupbase"}, {"_winreg", "winreg"}, {"thread", "_thread"}, {"dummy_thread", "_dummy_thread"},
    {"httplib", "http.client"}, {"htmlentitydefs", "html.entities"}, {"HTMLParser", "html.parser"},
    {"Cookie", "http.cookies"}, {"cookielib", "http.cookiejar"}, {"BaseHTTPServer", "http.server"},
    {"SimpleHTTPServer", "http.server"}, {"CGIHTTPServer", "http.server"}, {"xmlrpclib", "xmlrpc.client"},
    {"SimpleXMLRPCServer", "xmlrpc.server"}, {"urllib2", "urllib.request"}, {"urlparse", "urllib.parse"},
    {"robotparser", "urllib.robotparser"}, {"commands", "subprocess"}, {"exceptions", "builtins"},
    {"UserDict", "collections"},
}};

struct NameMap { std::string_view module, name, new_module, new_name; };
constexpr std::array<NameMap, 12> name_mapping{{
    {"__builtin__", "xrange", "builtins", "range"}, {"__builtin__", "reduce", "functools", "reduce"},
    {"__builtin__", "intern", "sys", "intern"}, {"__builtin__", "unichr", "builtins", "chr"},
    {"__builtin__", "unicode", "builtins", "str"}, {"__builtin__", "long", "builtins", "int"},
    {"itertools", "izip", "builtins", "zip"}, {"itertools", "imap", "builtins", "map"},
    {"itertools", "ifilter", "builtins", "filter"}, {"UserDict", "UserDict", "collections", "UserDict"},
    {"urllib", "urlopen", "urllib.request", "urlopen"}, {"urllib", "urlretrieve", "urllib.request", "urlretrieve"},
}};

struct Deny { std::string_view prefix, reason; };
constexpr std::array<Deny, 62> deny_list{{
    {"os", "operating system access (process execution, file writes)"},
    {"posix", "operating system access (process execution)"},
    {"nt", "operating system access (process execution)"},
    {"subprocess", "process execution"},
    {"_posixsubprocess", "process execution"},
    {"pty", "spawns a shell"},
    {"builtins.eval", "evaluates arbitrary Python"},
    {"builtins.exec", "executes arbitrary Python"},
    {"builtins.compile", "compiles arbitrary Python"},
    {"builtins.getattr", "reaches arbitrary attributes (getattr chains)"},
    {"builtins.setattr", "writes arbitrary attributes"},
    {"builtins.delattr", "deletes arbitrary attributes"},
    {"builtins.__import__", "imports arbitrary modules"},
    {"builtins.open", "opens files"},
    {"builtins.globals", "reaches interpreter globals"},
    {"builtins.locals", "reaches interpreter locals"},
    {"builtins.vars", "reaches object namespaces"},
    {"builtins.breakpoint", "starts a debugger"},
    {"builtins.input", "reads the terminal"},
    {"builtins.help", "starts a pager"},
    {"builtins.memoryview", "raw memory access"},
    {"builtins.type", "creates arbitrary classes"},
    {"builtins.object", "object.__new__/__reduce__ tricks"},
    {"runpy", "runs Python modules"},
    {"pip", "installs packages"},
    {"socket", "network access"},
    {"ssl", "network access"},
    {"http", "network access"},
    {"urllib", "network access"},
    {"ftplib", "network access"},
    {"telnetlib", "network access"},
    {"smtplib", "network access"},
    {"requests", "network access"},
    {"shutil", "file system changes"},
    {"tempfile", "file system changes"},
    {"webbrowser", "opens URLs / runs a browser"},
    {"importlib", "imports arbitrary modules"},
    {"pkgutil", "imports arbitrary modules"},
    {"zipimport", "imports arbitrary code"},
    {"code", "interactive interpreter"},
    {"codeop", "compiles arbitrary Python"},
    {"ctypes", "native code execution"},
    {"_ctypes", "native code execution"},
    {"marshal", "loads code objects"},
    {"types", "builds code/function objects"},
    {"sys", "interpreter internals"},
    {"pickle", "nested unpickling"},
    {"_pickle", "nested unpickling"},
    {"dill", "nested unpickling of code"},
    {"cloudpickle", "nested unpickling of code"},
    {"joblib.load", "nested unpickling"},
    {"torch.load", "nested torch.load runs another pickle"},
    {"torch.serialization.load", "nested torch.load runs another pickle"},
    {"torch.hub", "downloads and runs code"},
    {"torch.jit.load", "loads TorchScript code"},
    {"torch.package", "loads packaged code"},
    {"numpy.load", "numpy.load can unpickle"},
    {"numpy.lib.npyio.load", "numpy.load can unpickle"},
    {"operator.attrgetter", "reaches arbitrary attributes"},
    {"operator.methodcaller", "calls arbitrary methods"},
    {"multiprocessing", "process execution"},
    {"asyncio", "process execution / network"},
}};

// Exact names legitimate checkpoints import. Dotted names below an allowed entry are NOT
// allowed (torch.Tensor.__reduce_ex__ would be a trick, not a checkpoint).
constexpr std::array<std::string_view, 84> allow_list{{
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.range", "builtins.complex",
    "builtins.bytearray", "builtins.bytes", "builtins.int", "builtins.float", "builtins.str", "builtins.dict",
    "builtins.list", "builtins.tuple", "builtins.bool", "copyreg._reconstructor", "_codecs.encode",
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_wrapper_subclass",
    "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter", "torch.Tensor", "torch.Size",
    "torch.device", "torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.per_tensor_affine",
    "torch.per_channel_affine", "torch.serialization._get_layout", "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage", "torch.float64", "torch.float32", "torch.float16", "torch.bfloat16",
    "torch.int64", "torch.int32", "torch.int16", "torch.int8", "torch.uint8", "torch.bool",
    "torch.complex64", "torch.complex128", "torch.quint8", "torch.qint8", "torch.qint32",
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_tensor_from_id", "torch.jit._pickle.restore_type_tag",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
    "numpy.core.numeric._frombuffer", "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer", "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor", "joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.utils._bunch.Bunch",
    "argparse.Namespace", "datetime.datetime", "datetime.date", "datetime.timedelta", "decimal.Decimal",
}};

// Storage classes (torch.FloatStorage, ...) and TorchScript class names (__torch__.*) are
// resolved by torch without running Python code from the file.
bool allowed_pattern(std::string_view dotted) {
    if (dotted.starts_with("__torch__.")) return true;
    if (dotted.starts_with("torch.") && dotted.ends_with("Storage") && dotted.find('.', 6) == std::string_view::npos) return true;
    return false;
}

}  // namespace

std::string normalise_global(std::string_view module, std::string_view name) {
    for (const auto& m : name_mapping)
        if (m.module == module && m.name == name) return fmt::format("{}.{}", m.new_module, m.new_name);
    for (const auto& [from, to] : import_mapping)
        if (from == module) return fmt::format("{}.{}", to, name);
    return fmt::format("{}.{}", module, name);
}

GlobalClass classify_global(std::string_view module, std::string_view name) {
    GlobalClass out;
    out.dotted = normalise_global(module, name);
    // Check the raw spelling too: some loaders skip the compat mapping.
    const std::string raw = fmt::format("{}.{}", module, name);
    for (const auto& d : deny_list) {
        if (d.prefix.empty()) continue;
        for (const std::string* n : {static_cast<const std::string*>(&out.dotted), &raw}) {
            if (n->size() >= d.prefix.size() && n->compare(0, d.prefix.size(), d.prefix) == 0 &&
                (n->size() == d.prefix.size() || (*n)[d.prefix.size()] == '.')) {
                out.severity = Severity::dangerous;
                out.reason = std::string(d.reason);
                return out;
            }
        }
    }
    for (auto a : allow_list) {
        if (!a.empty() && a == out.dotted) {
            out.severity = Severity::info;
            return out;
        }
    }
    if (allowed_pattern(out.dotted)) {
        out.severity = Severity::info;
        return out;
    }
    out.severity = Severity::suspicious;
    out.reason = "global is not on the allow list";
    return out;
}

}  // namespace mw::scanner
