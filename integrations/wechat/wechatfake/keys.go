package wechatfake

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
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

// Keys are the key material of one fake deployment: WeChat Pay's two ways of signing (a "WeChat Pay
// public key" with its id, and a platform certificate), the merchant's API key and certificate serial,
// and the APIv3 key that encrypts notifications and the certificate list. They are serialisable with
// MarshalText and ParseKeys, so a sandbox hub can persist them and a separate process can sign
// notifications with them.
type Keys struct {
	// PlatformKey is WeChat Pay's "public-key mode" signing key; the hub verifies with its public half.
	PlatformKey *rsa.PrivateKey
	// PublicKeyID is the id of PlatformKey's public half ("PUB_KEY_ID_0116…"), sent in Wechatpay-Serial.
	PublicKeyID string
	// CertKey is the platform-certificate mode signing key.
	CertKey *rsa.PrivateKey
	// Cert is the self-signed platform certificate for CertKey; its serial is CertSerial().
	Cert *x509.Certificate
	// MerchantKey is the merchant's API private key; the hub signs its requests with it.
	MerchantKey *rsa.PrivateKey
	// MerchantSerial is the merchant API certificate serial (40 upper-case hex digits).
	MerchantSerial string
	// APIv3Key is the merchant's 32-character APIv3 key (the AES-256-GCM key of notifications).
	APIv3Key string
}

// PEM block types of MarshalText.
const (
	pemPlatformKey = "WECHATPAY PLATFORM PRIVATE KEY"
	pemCertKey     = "WECHATPAY CERTIFICATE PRIVATE KEY"
	pemCert        = "CERTIFICATE"
	pemMerchantKey = "MERCHANT PRIVATE KEY"
)

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// GenerateKeys makes fresh key material: three RSA-2048 keys (which takes a moment), a self-signed
// platform certificate valid for five years, a public key id, a merchant serial and an APIv3 key.
func GenerateKeys() (Keys, error) {
	var k Keys
	var err error
	if k.PlatformKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	if k.CertKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	if k.MerchantKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return Keys{}, err
	}
	serial := make([]byte, 20)
	if _, err := rand.Read(serial); err != nil {
		return Keys{}, err
	}
	serial[0] = serial[0]&0x3f | 0x10 // positive, and a leading digit so the hex form has 40 digits
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject: pkix.Name{
			CommonName:         "Tenpay.com Fake Platform Certificate",
			Organization:       []string{"Tenpay.com"},
			OrganizationalUnit: []string{"Tenpay.com CA Center"},
			Locality:           []string{"Shenzhen"},
			Province:           []string{"Guangdong"},
			Country:            []string{"CN"},
		},
		NotBefore:             now.Add(-time.Hour).Truncate(time.Second),
		NotAfter:              now.AddDate(5, 0, 0).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.CertKey.PublicKey, k.CertKey)
	if err != nil {
		return Keys{}, err
	}
	if k.Cert, err = x509.ParseCertificate(der); err != nil {
		return Keys{}, err
	}
	k.PublicKeyID = "PUB_KEY_ID_0116" + randomDigits(24)
	ms := make([]byte, 20)
	if _, err := rand.Read(ms); err != nil {
		return Keys{}, err
	}
	k.MerchantSerial = strings.ToUpper(hex.EncodeToString(ms))
	k.APIv3Key = randomString(alnum, 32)
	return k, nil
}

// CertSerial returns the platform certificate's serial as WeChat Pay writes it: upper-case hex of the
// serial number's bytes.
func (k Keys) CertSerial() string {
	if k.Cert == nil {
		return ""
	}
	return fmt.Sprintf("%X", k.Cert.SerialNumber.Bytes())
}

// MarshalText encodes the keys as one text blob: key=value lines for the ids and the APIv3 key, then
// PEM blocks (PKCS #8 private keys and the certificate). ParseKeys reverses it.
func (k Keys) MarshalText() ([]byte, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# wechatfake key material: for the in-process WeChat fake only, never for real WeChat.\n")
	fmt.Fprintf(&b, "public_key_id=%s\nmerchant_serial=%s\napiv3_key=%s\n", k.PublicKeyID, k.MerchantSerial, k.APIv3Key)
	for _, blk := range []struct {
		typ string
		key *rsa.PrivateKey
	}{{pemPlatformKey, k.PlatformKey}, {pemCertKey, k.CertKey}, {pemMerchantKey, k.MerchantKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(blk.key)
		if err != nil {
			return nil, err
		}
		if err := pem.Encode(&b, &pem.Block{Type: blk.typ, Bytes: der}); err != nil {
			return nil, err
		}
	}
	if err := pem.Encode(&b, &pem.Block{Type: pemCert, Bytes: k.Cert.Raw}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ParseKeys decodes the text MarshalText produced and checks that it is complete and consistent.
func ParseKeys(text []byte) (Keys, error) {
	var k Keys
	head, rest := text, []byte(nil)
	if i := bytes.Index(text, []byte("-----BEGIN ")); i >= 0 {
		head, rest = text[:i], text[i:]
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return Keys{}, fmt.Errorf("wechatfake keys: malformed line %q", line)
		}
		switch strings.TrimSpace(name) {
		case "public_key_id":
			k.PublicKeyID = strings.TrimSpace(value)
		case "merchant_serial":
			k.MerchantSerial = strings.TrimSpace(value)
		case "apiv3_key":
			k.APIv3Key = strings.TrimSpace(value)
		default:
			return Keys{}, fmt.Errorf("wechatfake keys: unknown field %q", name)
		}
	}
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case pemPlatformKey, pemCertKey, pemMerchantKey:
			key, err := parseRSAKey(blk.Bytes)
			if err != nil {
				return Keys{}, fmt.Errorf("wechatfake keys: %s: %w", strings.ToLower(blk.Type), err)
			}
			switch blk.Type {
			case pemPlatformKey:
				k.PlatformKey = key
			case pemCertKey:
				k.CertKey = key
			default:
				k.MerchantKey = key
			}
		case pemCert:
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return Keys{}, fmt.Errorf("wechatfake keys: certificate: %w", err)
			}
			k.Cert = c
		default:
			return Keys{}, fmt.Errorf("wechatfake keys: unexpected PEM block %q", blk.Type)
		}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return Keys{}, errors.New("wechatfake keys: trailing data after the PEM blocks")
	}
	if err := k.validate(); err != nil {
		return Keys{}, err
	}
	return k, nil
}

func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

func (k Keys) validate() error {
	switch {
	case k.PlatformKey == nil:
		return errors.New("wechatfake keys: no platform key")
	case k.CertKey == nil:
		return errors.New("wechatfake keys: no certificate key")
	case k.Cert == nil:
		return errors.New("wechatfake keys: no platform certificate")
	case k.MerchantKey == nil:
		return errors.New("wechatfake keys: no merchant key")
	case k.PublicKeyID == "":
		return errors.New("wechatfake keys: no public key id")
	case k.MerchantSerial == "":
		return errors.New("wechatfake keys: no merchant serial")
	case len(k.APIv3Key) != 32:
		return errors.New("wechatfake keys: the APIv3 key must be 32 bytes")
	}
	pub, ok := k.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&k.CertKey.PublicKey) {
		return errors.New("wechatfake keys: the certificate is not for the certificate key")
	}
	return nil
}

// signer returns the key and serial WeChat Pay signs with in mode m.
func (k Keys) signer(m Mode) (*rsa.PrivateKey, string) {
	if m == CertificateMode {
		return k.CertKey, k.CertSerial()
	}
	return k.PlatformKey, k.PublicKeyID
}

// signSHA256 returns base64(RSASSA-PKCS1-v1_5(SHA-256(msg))), the signature of WECHATPAY2-SHA256-RSA2048.
func signSHA256(key *rsa.PrivateKey, msg string) (string, error) {
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifySHA256 checks a base64 signature made by signSHA256.
func verifySHA256(pub *rsa.PublicKey, msg, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func randomDigits(n int) string { return randomString("0123456789", n) }

func randomHex(n int) string { return randomString("0123456789abcdef", n) }
