#!/usr/bin/python3
"""Writes an OpenSSF model-signing (sigstore/model-transparency v1.0, key-based) signature for
DIR into DIR/model.sig, independently of modelwarden: in-toto Statement v1 with predicate
https://model_signing/signature/v1.0, DSSE envelope signed with ECDSA P-256 (python3-cryptography),
wrapped in a Sigstore bundle. Usage: gen_openssf.py DIR PRIVATE_KEY_OUT PUBLIC_KEY_OUT
"""
import base64, hashlib, json, os, sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

model_dir, priv_out, pub_out = sys.argv[1:4]
ignore = ["model.sig", ".git"]
resources = []
for root, dirs, files in os.walk(model_dir):
    dirs[:] = [d for d in dirs if os.path.relpath(os.path.join(root, d), model_dir) not in ignore]
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), model_dir).replace(os.sep, "/")
        if rel in ignore:
            continue
        digest = hashlib.sha256(open(os.path.join(root, f), "rb").read()).hexdigest()
        resources.append({"name": rel, "algorithm": "sha256", "digest": digest})
resources.sort(key=lambda r: r["name"])
root_digest = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
statement = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": os.path.basename(os.path.abspath(model_dir)), "digest": {"sha256": root_digest}}],
    "predicateType": "https://model_signing/signature/v1.0",
    "predicate": {"serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": ignore},
                  "resources": resources},
}
payload = json.dumps(statement).encode()
ptype = b"application/vnd.in-toto+json"
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
key = ec.generate_private_key(ec.SECP256R1())
sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
bundle = {
    "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
    "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(pub_pem).hexdigest()}, "tlogEntries": []},
    "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": ptype.decode(),
                     "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]},
}
json.dump(bundle, open(os.path.join(model_dir, "model.sig"), "w"))
open(priv_out, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(pub_out, "wb").write(pub_pem)
