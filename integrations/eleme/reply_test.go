package eleme_test

import (
	"encoding/json"
	"testing"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/eleme"
)

// TestReplyToInvalidUTF8IsVerifiable is a finding of FuzzReadPush: a signed push whose ticket was not
// valid UTF-8 got an answer signed over the raw ticket but carrying U+FFFD in JSON, which Ele.me cannot
// verify (so it would send the push again and again).
func TestReplyToInvalidUTF8IsVerifiable(t *testing.T) {
	c, err := eleme.New(eleme.Config{Source: source, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	e := eleme.Envelope{Cmd: "shop.msg\xfe", Source: source, Ticket: "T-\xff", Timestamp: "1772359200", Version: eleme.Version, Body: `{}`}
	e.Sign = eleme.Sign(secret, e)
	p, err := c.ReadPush(market.Inbound{Method: "POST", Body: []byte(e.Form().Encode())})
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Body                                        json.RawMessage
		Cmd, Encrypt, Sign, Source, Ticket, Version string
		Timestamp                                   json.Number
	}
	if err := json.Unmarshal(c.Reply(p, nil).Body, &a); err != nil {
		t.Fatal(err)
	}
	ack := eleme.Envelope{Cmd: a.Cmd, Body: string(a.Body), Encrypt: a.Encrypt, Source: a.Source, Ticket: a.Ticket,
		Timestamp: a.Timestamp.String(), Version: a.Version, Sign: a.Sign}
	if !eleme.Verify(secret, ack) {
		t.Fatalf("the answer's signature does not verify over what it carries: %+v", ack)
	}
}
