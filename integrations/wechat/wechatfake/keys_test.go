package wechatfake

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

func TestKeysRoundTrip(t *testing.T) {
	text, err := testKeys.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeys(text)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !k.PlatformKey.Equal(testKeys.PlatformKey):
		t.Error("platform key changed")
	case !k.CertKey.Equal(testKeys.CertKey):
		t.Error("certificate key changed")
	case !k.MerchantKey.Equal(testKeys.MerchantKey):
		t.Error("merchant key changed")
	case !bytes.Equal(k.Cert.Raw, testKeys.Cert.Raw):
		t.Error("certificate changed")
	case k.PublicKeyID != testKeys.PublicKeyID || k.MerchantSerial != testKeys.MerchantSerial || k.APIv3Key != testKeys.APIv3Key:
		t.Errorf("ids changed: %+v", k)
	}
	again, err := k.MarshalText()
	if err != nil || !bytes.Equal(again, text) {
		t.Error("MarshalText is not stable across a round trip")
	}
}

func TestKeysShape(t *testing.T) {
	if s := testKeys.CertSerial(); !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(s) {
		t.Errorf("CertSerial = %q, want 40 upper-case hex digits", s)
	}
	if s := testKeys.CertSerial(); s != utils.GetCertificateSerialNumber(*testKeys.Cert) {
		t.Errorf("CertSerial %q differs from wechatpay-go's %q", s, utils.GetCertificateSerialNumber(*testKeys.Cert))
	}
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(testKeys.MerchantSerial) {
		t.Errorf("MerchantSerial = %q", testKeys.MerchantSerial)
	}
	if !regexp.MustCompile(`^PUB_KEY_ID_0116[0-9]{24}$`).MatchString(testKeys.PublicKeyID) {
		t.Errorf("PublicKeyID = %q", testKeys.PublicKeyID)
	}
	if len(testKeys.APIv3Key) != 32 {
		t.Errorf("APIv3Key has %d bytes", len(testKeys.APIv3Key))
	}
}

func TestParseKeysRejects(t *testing.T) {
	text, err := testKeys.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	cases := map[string]string{
		"empty":            "",
		"unknown field":    "colour=blue\n" + s,
		"short apiv3 key":  strings.Replace(s, "apiv3_key="+testKeys.APIv3Key, "apiv3_key=short", 1),
		"no merchant key":  cutBlock(s, pemMerchantKey),
		"no certificate":   cutBlock(s, pemCert),
		"trailing garbage": s + "garbage",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKeys([]byte(in)); err == nil {
				t.Error("ParseKeys accepted it")
			}
		})
	}
	// A certificate that is not the certificate key's is inconsistent.
	other := testKeys
	other.CertKey = testKeys.PlatformKey
	if _, err := other.MarshalText(); err == nil {
		t.Error("MarshalText accepted a certificate of another key")
	}
}

func cutBlock(s, typ string) string {
	begin := strings.Index(s, "-----BEGIN "+typ+"-----")
	endMark := "-----END " + typ + "-----\n"
	end := strings.Index(s, endMark)
	if begin < 0 || end < 0 {
		return s
	}
	return s[:begin] + s[end+len(endMark):]
}
