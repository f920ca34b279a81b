package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is what the API server and its clients need to trust each other: a
// CA, the API server's serving certificate, a client certificate in
// system:masters, and the key that signs service-account tokens. Every key
// is ECDSA P-256, which is fast to make and which all of them accept.
type pki struct {
	caPEM                       []byte
	serverCert, serverKey       string // files
	clientCertPEM, clientKeyPEM []byte
	caFile                      string
	serviceAccountKey           string // private, signs tokens
	serviceAccountPub           string // public, checks them
}

// newPKI writes the files into dir.
func newPKI(dir string) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, names []string) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     names,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		return pemBlock("CERTIFICATE", der), mustPKCS8(key), nil
	}
	serverCert, serverKey, err := issue(2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := issue(3, pkix.Name{CommonName: "kubetest-admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	p := &pki{
		caPEM:             pemBlock("CERTIFICATE", caDER),
		serverCert:        filepath.Join(dir, "apiserver.crt"),
		serverKey:         filepath.Join(dir, "apiserver.key"),
		clientCertPEM:     clientCert,
		clientKeyPEM:      clientKey,
		caFile:            filepath.Join(dir, "ca.crt"),
		serviceAccountKey: filepath.Join(dir, "service-account.key"),
		serviceAccountPub: filepath.Join(dir, "service-account.pub"),
	}
	for file, data := range map[string][]byte{
		p.caFile:            p.caPEM,
		p.serverCert:        serverCert,
		p.serverKey:         serverKey,
		p.serviceAccountKey: mustPKCS8(saKey),
		p.serviceAccountPub: pemBlock("PUBLIC KEY", saPub),
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKCS8(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // only for key types it does not know
	}
	return pemBlock("PRIVATE KEY", der)
}

// kubeconfig is a kubeconfig file's text for the admin client of the API
// server at host.
func (p *pki) kubeconfig(host string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kubetest-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: kubetest-admin
current-context: kubetest
`, host, b64(p.caPEM), b64(p.clientCertPEM), b64(p.clientKeyPEM))
}
