#!/usr/bin/env bash
# Builds the control-API test PKI in $1 with the openssl CLI: a CA (with CRL), the server
# certificate, viewer/operator/no-role/foreign-domain clients, an expired and a revoked
# operator, and an operator certificate from another CA.
set -euo pipefail
cd "$1"
export OPENSSL_CONF=/dev/null

make_ca() {
  local ca=$1
  mkdir -p "$ca.db"
  : >"$ca.db/index.txt"
  echo 1000 >"$ca.db/serial"
  echo 1000 >"$ca.db/crlnumber"
  cat >"$ca.cnf" <<CNF
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = ./$ca.db
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = ./$ca.crt
private_key = ./$ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
commonName = supplied
organizationalUnitName = optional
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
CNF
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$ca.key" -out "$ca.crt" \
    -days 3650 -subj "/CN=$ca test root" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# issue CA NAME SUBJECT EXTSECTION [SAN] [STARTDATE ENDDATE]
issue() {
  local ca=$1 name=$2 subj=$3 ext=$4 san=${5:-} start=${6:-} end=${7:-}
  local req_args=(-new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj")
  [[ -n $san ]] && req_args+=(-addext "subjectAltName=$san")
  openssl req "${req_args[@]}" 2>/dev/null
  local ca_args=(-batch -config "$ca.cnf" -extensions "$ext" -in "$name.csr" -out "$name.crt" -notext)
  [[ -n $start ]] && ca_args+=(-startdate "$start" -enddate "$end")
  openssl ca "${ca_args[@]}" 2>/dev/null
}

make_ca ca
make_ca otherca
issue ca server "/CN=modelwarden-server" server_ext
issue ca viewer "/CN=alice" client_ext "URI:spiffe://test.local/modelwarden/viewer"
issue ca operator "/OU=modelwarden-operator/CN=bob" client_ext
issue ca spiffe-operator "/CN=carol" client_ext "URI:spiffe://test.local/modelwarden/operator"
issue ca norole "/CN=mallory" client_ext
issue ca foreign "/CN=eve" client_ext "URI:spiffe://evil.example/modelwarden/operator"
issue ca expired "/OU=modelwarden-operator/CN=old" client_ext "" 20200101000000Z 20210101000000Z
issue ca revoked "/OU=modelwarden-operator/CN=gone" client_ext
openssl ca -batch -config ca.cnf -revoke revoked.crt 2>/dev/null
openssl ca -batch -config ca.cnf -gencrl -out ca.crl 2>/dev/null
issue otherca other "/OU=modelwarden-operator/CN=bob" client_ext
echo ok
