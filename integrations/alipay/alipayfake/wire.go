package alipayfake

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// chinaTime is Beijing time (UTC+8, no daylight saving): Alipay's timestamps are in it. A fixed zone keeps
// the package independent of the system's time-zone database.
var chinaTime = cn.Zone

const (
	timeLayout       = "2006-01-02 15:04:05"     // timestamp, gmt_create, gmt_payment, gmt_close, notify_time
	refundTimeLayout = "2006-01-02 15:04:05.000" // gmt_refund ("yyyy-MM-dd HH:mm:ss.S", e.g. 2015-04-28 15:45:57.320)
)

// requestSignContent is the string an app signs: every parameter except sign with a non-empty value,
// sorted by key, written key=value (raw values) and joined with "&". Repeated keys count once (first value).
func requestSignContent(params url.Values) string {
	return signContent(params, map[string]bool{"sign": true}, true)
}

// notifySignContent is the string Alipay signs a notification with: every parameter except sign and
// sign_type, sorted by key, key=value with decoded values, joined with "&".
func notifySignContent(form url.Values) string {
	return signContent(form, map[string]bool{"sign": true, "sign_type": true}, false)
}

func signContent(v url.Values, skip map[string]bool, skipEmpty bool) string {
	keys := make([]string, 0, len(v))
	for k, vals := range v {
		if skip[k] || len(vals) == 0 || (skipEmpty && vals[0] == "") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v[k][0])
	}
	return b.String()
}

// rsa2Sign returns base64(RSASSA-PKCS1-v1_5(SHA-256(content))), Alipay's RSA2.
func rsa2Sign(key *rsa.PrivateKey, content []byte) (string, error) {
	sum := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// rsa2Verify checks a base64 RSA2 signature over content.
func rsa2Verify(pub *rsa.PublicKey, content []byte, sign string) error {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return fmt.Errorf("sign is not base64: %w", err)
	}
	sum := sha256.Sum256(content)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// aesEncrypt is Alipay's content encryption: AES-CBC with a zero IV and PKCS #7 padding, base64-encoded.
func aesEncrypt(key, plain []byte) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// aesDecrypt reverses aesEncrypt.
func aesDecrypt(key []byte, text string) ([]byte, error) {
	buf, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, errors.New("ciphertext is not a whole number of blocks")
	}
	cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("bad padding")
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, errors.New("bad padding")
		}
	}
	return buf[:len(buf)-pad], nil
}

// object is a JSON object written field by field, so that the bytes on the wire are exactly the bytes
// that were signed. Alipay writes code, msg, sub_code and sub_msg first and the other fields in key order.
type object struct {
	head, body []field
}

type field struct{ key, raw string }

var headKeys = map[string]int{"code": 0, "msg": 1, "sub_code": 2, "sub_msg": 3}

// str sets a string field; an empty value leaves the field out, as Alipay does.
func (o *object) str(key, value string) *object {
	if value == "" {
		return o
	}
	return o.set(key, quote(value))
}

// num sets a numeric field.
func (o *object) num(key string, n int64) *object { return o.set(key, strconv.FormatInt(n, 10)) }

func (o *object) set(key, raw string) *object {
	f := field{key, raw}
	if _, ok := headKeys[key]; ok {
		o.head = append(o.head, f)
	} else {
		o.body = append(o.body, f)
	}
	return o
}

// get returns a field's raw JSON value.
func (o *object) get(key string) string {
	for _, f := range append(o.head, o.body...) {
		if f.key == key {
			return f.raw
		}
	}
	return ""
}

func (o *object) bytes() []byte {
	sort.SliceStable(o.head, func(i, j int) bool { return headKeys[o.head[i].key] < headKeys[o.head[j].key] })
	sort.SliceStable(o.body, func(i, j int) bool { return o.body[i].key < o.body[j].key })
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range append(append([]field{}, o.head...), o.body...) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(f.key))
		b.WriteByte(':')
		b.WriteString(f.raw)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// quote writes a JSON string the way Alipay's gateway does: UTF-8 left as is, "/" escaped as "\/" (as in
// the documented responses, e.g. "qr_code":"https:\/\/qr.alipay.com\/…"). A client must verify the
// signature over these bytes, not over a re-encoding of the parsed value.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '/':
			b.WriteString(`\/`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// maxAmountFen is the largest amount the fake takes: nine digits of yuan and two decimals.
const maxAmountFen = 99_999_999_999

// parseYuan converts an amount such as "12.30" to fen: yuan with at most two decimals, no sign, no
// exponent, no leading zeros, at most nine digits before the point.
func parseYuan(s string) (int64, bool) {
	fen, err := cn.Fen(s)
	if err != nil || strings.HasPrefix(s, "-") || fen > maxAmountFen {
		return 0, false
	}
	return fen, true
}

// yuan writes fen as Alipay does: two decimals.
func yuan(fen int64) string { return cn.Yuan(fen) }
