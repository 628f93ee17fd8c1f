# X.509 files for TLS tests, made with certtool (GnuTLS).
# make_pki DIR [IP...]: a CA, DIR/server (server-cert.pem, server-key.pem,
# ca-cert.pem: nbdkit's and p2v-agent --tls-certificates' layout) valid
# for 127.0.0.1, localhost and each IP; DIR/client (client-cert.pem,
# client-key.pem, ca-cert.pem: libnbd's tls-certificates layout); DIR/nocert
# (only ca-cert.pem: a client with no certificate of its own).
make_pki() {
    local pki=$1 ip who; shift
    mkdir -p "$pki/server" "$pki/client" "$pki/nocert"
    printf '%s\n' 'cn = p2v test CA' ca cert_signing_key 'expiration_days = 2' >"$pki/ca.info"
    {
        printf '%s\n' 'organization = p2v test' 'cn = 127.0.0.1' 'ip_address = 127.0.0.1'
        for ip in "$@"; do printf 'ip_address = %s\n' "$ip"; done
        printf '%s\n' 'dns_name = localhost' tls_www_server encryption_key signing_key \
            'expiration_days = 2'
    } >"$pki/server.info"
    printf '%s\n' 'country = GB' 'organization = p2v test' 'cn = converter' tls_www_client \
        encryption_key signing_key 'expiration_days = 2' >"$pki/client.info"
    certtool --generate-privkey >"$pki/ca-key.pem" 2>/dev/null
    certtool --generate-self-signed --load-privkey "$pki/ca-key.pem" \
        --template "$pki/ca.info" --outfile "$pki/ca-cert.pem" >/dev/null 2>&1
    for who in server client; do
        certtool --generate-privkey >"$pki/$who/$who-key.pem" 2>/dev/null
        certtool --generate-certificate --load-privkey "$pki/$who/$who-key.pem" \
            --load-ca-certificate "$pki/ca-cert.pem" --load-ca-privkey "$pki/ca-key.pem" \
            --template "$pki/$who.info" --outfile "$pki/$who/$who-cert.pem" >/dev/null 2>&1
        cp "$pki/ca-cert.pem" "$pki/$who/"
    done
    cp "$pki/ca-cert.pem" "$pki/nocert/"
}
