package alipayfake

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Mode is how a deployment verifies signatures: with bare public keys or with public-key certificates.
type Mode int

const (
	// PublicKeyMode is Alipay's "公钥" mode: the app uploads its public key and receives Alipay's public key.
	PublicKeyMode Mode = iota
	// CertMode is Alipay's "公钥证书" mode: requests carry app_cert_sn and alipay_root_cert_sn, responses carry
	// alipay_cert_sn, and keys are exchanged as certificates issued by a root CA.
	CertMode
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case PublicKeyMode:
		return "public-key"
	case CertMode:
		return "cert"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Keys is the key material of one fake deployment, PEM-serialisable (a sandbox hub persists it).
type Keys struct {
	AppKey     *rsa.PrivateKey   // the merchant app's private key (the hub signs requests with it)
	AlipayKey  *rsa.PrivateKey   // Alipay's signing key
	RootCert   *x509.Certificate // cert mode: a root CA (self-signed) ...
	RootKey    *rsa.PrivateKey
	AppCert    *x509.Certificate // ... issuing the app's public-key cert (for AppKey)
	AlipayCert *x509.Certificate // ... and Alipay's public-key cert (for AlipayKey)
	AESKey     string            // base64 of 16 random bytes (the app's content-encryption key)
}

// rootSubject is the fake root CA's name. It is plain ASCII with no characters RFC 2253 escapes, so that
// Go's pkix.Name.String and Java's X500Principal.getName agree on it and every SDK computes the same SN.
var rootSubject = pkix.Name{
	Country:            []string{"CN"},
	Organization:       []string{"o2ohub sandbox"},
	OrganizationalUnit: []string{"Certification Authority"},
	CommonName:         "o2ohub Fake Alipay Root CA",
}

// GenerateKeys makes a fresh deployment: 2048-bit RSA keys for the app, Alipay and a root CA, the root's
// self-signed certificate (SHA256WithRSA, as Alipay's RSA roots), the app's and Alipay's public-key
// certificates issued by it, and a 128-bit AES content-encryption key.
func GenerateKeys() (Keys, error) {
	var k Keys
	var err error
	if k.AppKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	if k.AlipayKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	if k.RootKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               rootSubject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	if k.RootCert, err = createCert(root, root, &k.RootKey.PublicKey, k.RootKey); err != nil {
		return Keys{}, err
	}
	leaf := func(cn, org string, pub *rsa.PublicKey) (*x509.Certificate, error) {
		tmpl := &x509.Certificate{
			SerialNumber: randomSerial(),
			Subject: pkix.Name{
				Country:            []string{"CN"},
				Organization:       []string{org},
				OrganizationalUnit: []string{"Alipay"},
				CommonName:         cn,
			},
			NotBefore:          now.Add(-time.Hour),
			NotAfter:           now.AddDate(5, 0, 0),
			KeyUsage:           x509.KeyUsageDigitalSignature,
			SignatureAlgorithm: x509.SHA256WithRSA,
		}
		return createCert(tmpl, k.RootCert, pub, k.RootKey)
	}
	if k.AppCert, err = leaf("o2ohub sandbox app", "o2ohub sandbox merchant", &k.AppKey.PublicKey); err != nil {
		return Keys{}, err
	}
	if k.AlipayCert, err = leaf("o2ohub fake Alipay", "o2ohub fake Alipay", &k.AlipayKey.PublicKey); err != nil {
		return Keys{}, err
	}
	aes := make([]byte, 16)
	if _, err := rand.Read(aes); err != nil {
		return Keys{}, err
	}
	k.AESKey = base64.StdEncoding.EncodeToString(aes)
	return k, nil
}

func createCert(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// PEM block types used by MarshalText. They are not the standard types on purpose: the text is a bundle
// for this package, not a file an SDK should load (use the *PEM accessors for that).
const (
	pemAppKey     = "ALIPAYFAKE APP PRIVATE KEY"
	pemAlipayKey  = "ALIPAYFAKE ALIPAY PRIVATE KEY"
	pemRootKey    = "ALIPAYFAKE ROOT PRIVATE KEY"
	pemRootCert   = "ALIPAYFAKE ROOT CERTIFICATE"
	pemAppCert    = "ALIPAYFAKE APP CERTIFICATE"
	pemAlipayCert = "ALIPAYFAKE ALIPAY CERTIFICATE"
	pemAESKey     = "ALIPAYFAKE AES KEY"
)

// MarshalText encodes the keys as a bundle of PEM blocks (PKCS #1 keys, DER certificates, the raw AES
// key). Nil fields are left out.
func (k Keys) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# alipayfake sandbox keys: fake Alipay only, never real credentials\n")
	put := func(typ string, der []byte) {
		_ = pem.Encode(&b, &pem.Block{Type: typ, Bytes: der})
	}
	for _, pk := range []struct {
		typ string
		key *rsa.PrivateKey
	}{{pemAppKey, k.AppKey}, {pemAlipayKey, k.AlipayKey}, {pemRootKey, k.RootKey}} {
		if pk.key != nil {
			put(pk.typ, x509.MarshalPKCS1PrivateKey(pk.key))
		}
	}
	for _, c := range []struct {
		typ  string
		cert *x509.Certificate
	}{{pemRootCert, k.RootCert}, {pemAppCert, k.AppCert}, {pemAlipayCert, k.AlipayCert}} {
		if c.cert != nil {
			put(c.typ, c.cert.Raw)
		}
	}
	if k.AESKey != "" {
		raw, err := base64.StdEncoding.DecodeString(k.AESKey)
		if err != nil {
			return nil, fmt.Errorf("alipayfake: aes key: %w", err)
		}
		put(pemAESKey, raw)
	}
	return b.Bytes(), nil
}

// UnmarshalText decodes what MarshalText wrote; see ParseKeys.
func (k *Keys) UnmarshalText(text []byte) error {
	parsed, err := ParseKeys(text)
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// ParseKeys decodes a bundle written by MarshalText. The app and Alipay keys are required; certificates
// and the AES key are optional, but certificates that are present must certify the matching keys.
func ParseKeys(text []byte) (Keys, error) {
	var k Keys
	rest := text
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var err error
		switch block.Type {
		case pemAppKey:
			k.AppKey, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case pemAlipayKey:
			k.AlipayKey, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case pemRootKey:
			k.RootKey, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case pemRootCert:
			k.RootCert, err = x509.ParseCertificate(block.Bytes)
		case pemAppCert:
			k.AppCert, err = x509.ParseCertificate(block.Bytes)
		case pemAlipayCert:
			k.AlipayCert, err = x509.ParseCertificate(block.Bytes)
		case pemAESKey:
			if len(block.Bytes) != 16 {
				err = fmt.Errorf("want 16 bytes, have %d", len(block.Bytes))
			}
			k.AESKey = base64.StdEncoding.EncodeToString(block.Bytes)
		default:
			err = errors.New("unknown block")
		}
		if err != nil {
			return Keys{}, fmt.Errorf("alipayfake: parse keys: %s: %w", block.Type, err)
		}
	}
	if k.AppKey == nil || k.AlipayKey == nil {
		return Keys{}, errors.New("alipayfake: parse keys: app and alipay private keys are required")
	}
	if err := k.checkCerts(); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// checkCerts reports whether the certificates that are present fit the keys and the root.
func (k Keys) checkCerts() error {
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  *rsa.PrivateKey
	}{{"app", k.AppCert, k.AppKey}, {"alipay", k.AlipayCert, k.AlipayKey}, {"root", k.RootCert, k.RootKey}} {
		if c.cert == nil || c.key == nil {
			continue
		}
		pub, ok := c.cert.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&c.key.PublicKey) {
			return fmt.Errorf("alipayfake: %s certificate does not certify the %s key", c.name, c.name)
		}
		if c.name != "root" && k.RootCert != nil {
			if err := c.cert.CheckSignatureFrom(k.RootCert); err != nil {
				return fmt.Errorf("alipayfake: %s certificate is not issued by the root: %w", c.name, err)
			}
		}
	}
	return nil
}

// certModeReady reports why the keys cannot serve certificate mode, or nil.
func (k Keys) certModeReady() error {
	if k.RootCert == nil || k.AppCert == nil || k.AlipayCert == nil {
		return errors.New("alipayfake: cert mode needs RootCert, AppCert and AlipayCert")
	}
	return k.checkCerts()
}

// AppPrivateKeyPEM returns the app's private key as a PKCS #1 "RSA PRIVATE KEY" PEM block, the form the
// SDK's alipay.New accepts.
func (k Keys) AppPrivateKeyPEM() string {
	if k.AppKey == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.AppKey)}))
}

// AlipayPublicKeyPEM returns Alipay's public key as a PKIX "PUBLIC KEY" PEM block ("支付宝公钥", public-key mode).
func (k Keys) AlipayPublicKeyPEM() string {
	if k.AlipayKey == nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(&k.AlipayKey.PublicKey)
	if err != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// AppCertPEM returns the app's public-key certificate (appCertPublicKey.crt).
func (k Keys) AppCertPEM() string { return certPEM(k.AppCert) }

// RootCertPEM returns the root certificate bundle (alipayRootCert.crt).
func (k Keys) RootCertPEM() string { return certPEM(k.RootCert) }

// AlipayCertPEM returns Alipay's public-key certificate (alipayCertPublicKey_RSA2.crt).
func (k Keys) AlipayCertPEM() string { return certPEM(k.AlipayCert) }

func certPEM(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// CertSN returns Alipay's serial number for a certificate as the SDKs compute it: the lower-case hex MD5
// of the issuer's distinguished name (RFC 2253 order, as pkix.Name.String writes it) followed by the
// certificate's serial number in decimal. The root SN of a bundle joins the SNs of its RSA-signed
// certificates with "_"; the fake's root bundle holds one certificate, so its root SN is CertSN(RootCert).
func CertSN(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	sum := md5.Sum([]byte(c.Issuer.String() + c.SerialNumber.String()))
	return hex.EncodeToString(sum[:])
}

// rootCertSN computes alipay_root_cert_sn for a PEM bundle the way Alipay's SDKs do: the SNs of the
// certificates signed with RSA (SHA1WithRSA or SHA256WithRSA), in file order, joined with "_".
func rootCertSN(bundle string) string {
	var sns []string
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		if c.SignatureAlgorithm == x509.SHA256WithRSA || c.SignatureAlgorithm == x509.SHA1WithRSA {
			sns = append(sns, CertSN(c))
		}
	}
	return strings.Join(sns, "_")
}
