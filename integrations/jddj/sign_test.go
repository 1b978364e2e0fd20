package jddj_test

import (
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/integrations/jddj"
)

const goldenSecret = "0123456789abcdef0123456789ABCDEF"

// The expected signatures were computed outside Go, with the commands in the comments.
func TestSignGolden(t *testing.T) {
	for _, c := range []struct {
		name   string
		secret string
		params map[string]string
		want   string
	}{
		{
			// S=0123456789abcdef0123456789ABCDEF
			// printf '%s' "${S}app_keyak1formatjsonjd_param_json{\"orderId\":\"100001\",\"isAgreed\":true,\"operator\":\"op\"}timestamp2026-03-01 10:00:00tokentk1v1.0${S}" | md5sum
			name:   "request",
			secret: goldenSecret,
			params: map[string]string{
				"v": "1.0", "token": "tk1", "timestamp": "2026-03-01 10:00:00", "format": "json", "app_key": "ak1",
				"jd_param_json": `{"orderId":"100001","isAgreed":true,"operator":"op"}`,
				"sign":          "IGNORED",
			},
			want: "9C536342922574B5ADB91DCF6D53DB1B",
		},
		{
			// printf '%s' "${S}app_keyak1encrypt_jd_param_jsonQUJDformatjsontimestamp2026-03-01 10:00:00tokentk1v1.0${S}" | md5sum
			name:   "encrypted push",
			secret: goldenSecret,
			params: map[string]string{
				"app_key": "ak1", "encrypt_jd_param_json": "QUJD", "format": "json",
				"timestamp": "2026-03-01 10:00:00", "token": "tk1", "v": "1.0",
			},
			want: "1633D2DCFA84334774552B3BC0AF9E43",
		},
		{
			// printf '%s' "secretapp_keyKjd_param_json{\"skuName\":\"苹果\"}timestamp2026-12-31 23:59:59tokenTv1.0secret" | md5sum
			name:   "raw utf-8 value",
			secret: "secret",
			params: map[string]string{
				"app_key": "K", "jd_param_json": `{"skuName":"苹果"}`, "timestamp": "2026-12-31 23:59:59", "token": "T", "v": "1.0",
			},
			want: "7B1AE849B3281692C9B25C87D6B926F3",
		},
	} {
		if got := jddj.Sign(c.secret, c.params); got != c.want {
			t.Errorf("%s: Sign = %s, want %s", c.name, got, c.want)
		}
	}
}

// The ciphertext was computed with:
// printf '%s' '{"billId":"100001","statusId":"41000","timestamp":"2026-03-01 10:00:00"}' | openssl enc -aes-128-cbc \
// -K $(printf '0123456789abcdef' | xxd -p) -iv $(printf '0123456789ABCDEF' | xxd -p) -base64 -A
func TestEncryptGolden(t *testing.T) {
	plain := `{"billId":"100001","statusId":"41000","timestamp":"2026-03-01 10:00:00"}`
	want := "psvsO26DlcBP6xvzMXTOGd7+MAfvd3+T4bGjX8WMLDKYON/n3PF8Jq/2Z41DU55+zuATQLRyd7sNgrBLAnSv9WWjAk26VuLPt3V+djLp+vA="
	got, err := jddj.Encrypt(goldenSecret, plain)
	if err != nil || got != want {
		t.Fatalf("Encrypt = %q, %v; want %q", got, err, want)
	}
	back, err := jddj.Decrypt(goldenSecret, want)
	if err != nil || back != plain {
		t.Fatalf("Decrypt = %q, %v", back, err)
	}
	if _, err := jddj.Decrypt(goldenSecret, "QUJD"); err == nil {
		t.Error("Decrypt of a partial block succeeded")
	}
	if _, err := jddj.Encrypt("short", plain); err == nil {
		t.Error("Encrypt with a short secret succeeded")
	}
}

func TestTimestamp(t *testing.T) {
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	if got := jddj.Timestamp(at); got != "2026-03-01 10:00:00" {
		t.Errorf("Timestamp = %q", got)
	}
	back, err := jddj.ParseTime("2026-03-01 10:00:00")
	if err != nil || !back.Equal(at) {
		t.Errorf("ParseTime = %v, %v", back, err)
	}
}
