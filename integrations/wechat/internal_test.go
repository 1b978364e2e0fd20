package wechat

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"
)

func TestMaskContactNeverPanics(t *testing.T) {
	for in, want := range map[string]string{"": "", "9533": "9533", "95338": "*5338", "13812345678": "*******5678", "０２１-１２３": "***-１２３"} {
		if got := maskContact(in); got != want {
			t.Errorf("maskContact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubRemovesCredentials(t *testing.T) {
	uerr := &url.Error{Op: "Get", URL: "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=TOPSECRET&js_code=CODE123&grant_type=authorization_code",
		Err: errors.New("dial tcp: i/o timeout")}
	status := fmt.Errorf("http post error : uri=%v , statusCode=%v", "https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=TOKEN456", 502)
	for _, err := range []error{uerr, status, fmt.Errorf("wrapped: %w", uerr)} {
		s := scrub(err).Error()
		for _, leak := range []string{"TOPSECRET", "CODE123", "TOKEN456"} {
			if strings.Contains(s, leak) {
				t.Fatalf("scrubbed error %q still holds %s", s, leak)
			}
		}
		if !strings.Contains(s, "REDACTED") {
			t.Fatalf("scrubbed error %q says nothing was removed", s)
		}
	}
	ce := util.NewCommonError("send", 43101, "user refuse to accept the msg")
	if got := scrub(ce); got != error(ce) || errCode(got) != 43101 {
		t.Fatalf("a WeChat error answer must pass through with its errcode, got %v", got)
	}
}
