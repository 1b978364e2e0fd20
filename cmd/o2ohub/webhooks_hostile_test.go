package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestWebhooksListenPrintsNoTerminalControls: anyone who can reach the receiver may post to it, and it
// prints what it rejects too. A JSON body may hold, raw and valid, the C1 control CSI (U+009B, which
// some terminals obey like ESC [) and bidirectional overrides; neither reaches the screen.
func TestWebhooksListenPrintsNoTerminalControls(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var stdout, stderr syncBuffer
	base, stop := startListener(t, []string{"webhooks", "listen", "--port", "0", "--secret", secret}, nil, &stdout, &stderr)
	body := "{\"type\":\"order.paid\",\"data\":{\"note\":\"\u009b2J\u009b31mpaid\u202egnp.exe\u0085x\"}}"
	if got := post(t, base, "", "", body, nil); got != http.StatusBadRequest {
		t.Fatalf("an unsigned delivery was answered %d", got)
	}
	if got := post(t, base, secret, "evt_\u009b1", body, nil); got != http.StatusNoContent {
		t.Fatalf("a signed delivery was answered %d", got)
	}
	stop()
	out := stdout.String()
	if !strings.Contains(out, `"note": "?2J?31mpaid?gnp.exe?x"`) {
		t.Errorf("the body was not printed with its controls replaced:\n%q", out)
	}
	for _, r := range []string{"\u009b", "\u202e", "\u0085", "\x1b"} {
		if strings.Contains(out, r) {
			t.Errorf("the output holds %q:\n%q", r, out)
		}
	}
}

// TestHelpHidesSecrets: the help of webhooks listen and events tail, asked for with the secrets in the
// environment, shows neither the endpoint secret nor the admin token.
func TestHelpHidesSecrets(t *testing.T) {
	env := map[string]string{"O2OHUB_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "O2OHUB_ADMIN_TOKEN": "admin-token-never-shown"}
	for _, args := range [][]string{{"webhooks", "listen", "-h"}, {"events", "tail", "-h"}, {"config"}} {
		var out, errs syncBuffer
		_ = run(context.Background(), args, &out, &errs, func(k string) string { return env[k] })
		for _, leak := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "admin-token-never-shown"} {
			if strings.Contains(out.String()+errs.String(), leak) {
				t.Errorf("o2ohub %v printed a secret:\n%s%s", args, out.String(), errs.String())
			}
		}
	}
}
