package jddj

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// TimeLayout is how JD writes the timestamp parameter and the order times: "yyyy-MM-dd HH:mm:ss" in
// China time.
const TimeLayout = "2006-01-02 15:04:05"

// Skew is how far a request's timestamp may be from JD's clock before JD refuses it.
const Skew = 6 * time.Minute

// Sign computes JD's signature over params: every key but "sign", sorted in byte order, each written as
// key immediately followed by its raw value, no separators; the whole wrapped in the app secret on both
// sides; sign = upper(hex(MD5(secret + s + secret))). Requests and pushes are signed alike.
func Sign(secret string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sign" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(secret)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(params[k])
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Timestamp writes t as JD's timestamp parameter, in China time.
func Timestamp(t time.Time) string { return t.In(cn.Zone).Format(TimeLayout) }

// ParseTime reads a JD timestamp ("yyyy-MM-dd HH:mm:ss", China time).
func ParseTime(s string) (time.Time, error) { return time.ParseInLocation(TimeLayout, s, cn.Zone) }

// errKey is a secret too short to give JD's AES key and IV.
var errKey = errors.New("app secret shorter than 32 characters: no AES key")

// aesParts derives JD's AES-128-CBC key (secret[0:16]) and IV (secret[16:32]).
func aesParts(secret string) (cipher.Block, []byte, error) {
	if len(secret) < 32 {
		return nil, nil, errKey
	}
	block, err := aes.NewCipher([]byte(secret[:16]))
	if err != nil {
		return nil, nil, err
	}
	return block, []byte(secret[16:32]), nil
}

// Encrypt encrypts plain as JD encrypts encrypt_jd_param_json: AES-128-CBC with key secret[0:16] and IV
// secret[16:32], PKCS#5 padding, standard base64.
func Encrypt(secret, plain string) (string, error) {
	block, iv, err := aesParts(secret)
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append([]byte(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt reverses Encrypt.
func Decrypt(secret, text string) (string, error) {
	block, iv, err := aesParts(secret)
	if err != nil {
		return "", err
	}
	buf, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return "", errors.New("encrypted text is not base64")
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return "", errors.New("encrypted text is not whole AES blocks")
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(buf[len(buf)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return "", errors.New("encrypted text has bad padding")
	}
	return string(buf[:len(buf)-pad]), nil
}
