package eleme

import (
	"regexp"
	"testing"
)

// The expected signatures were computed outside Go, in a shell, with the command beside each vector.
func TestSignGoldenVectors(t *testing.T) {
	for _, c := range []struct {
		name string
		e    Envelope
		want string
	}{{
		// printf '%s' 'body={"order_id":"1539718128202"}&cmd=order.get&encrypt=&secret=s3cr3t&source=62863&ticket=5001ABFE-43B1-C887-A7C7-EAF9F16F8D3D&timestamp=1539940745&version=3' | md5sum | tr a-f A-F
		name: "order.get",
		e: Envelope{Cmd: "order.get", Body: `{"order_id":"1539718128202"}`, Source: "62863",
			Ticket: "5001ABFE-43B1-C887-A7C7-EAF9F16F8D3D", Timestamp: "1539940745", Version: "3"},
		want: "19C3E8C57753F70234D8E8FB3AE5459B",
	}, {
		// printf '%s' 'access_token=TOKEN1&body={}&cmd=order.confirm&encrypt=&secret=s3cr3t&source=62863&ticket=A1B2C3D4-0000-4000-8000-000000000001&timestamp=1700000000&version=3' | md5sum | tr a-f A-F
		name: "access_token sorts first",
		e: Envelope{Cmd: "order.confirm", Body: `{}`, Source: "62863", AccessToken: "TOKEN1",
			Ticket: "A1B2C3D4-0000-4000-8000-000000000001", Timestamp: "1700000000", Version: "3"},
		want: "F5229B2A936BF24E98778DD8D31FD16F",
	}, {
		// printf '%s' 'body={"shop_id":"店1","custom_sku_id":"a:1;b:0"}&cmd=sku.stock.update.batch&encrypt=&secret=s3cr3t&source=62863&ticket=A1B2C3D4-0000-4000-8000-000000000002&timestamp=1700000001&version=3' | md5sum | tr a-f A-F
		name: "raw UTF-8 and separators inside body",
		e: Envelope{Cmd: "sku.stock.update.batch", Body: `{"shop_id":"店1","custom_sku_id":"a:1;b:0"}`, Source: "62863",
			Ticket: "A1B2C3D4-0000-4000-8000-000000000002", Timestamp: "1700000001", Version: "3"},
		want: "DB04789E96A839888D2A8BF3EEFDD318",
	}} {
		if got := Sign("s3cr3t", c.e); got != c.want {
			t.Errorf("%s: Sign = %s, want %s", c.name, got, c.want)
		}
		c.e.Sign = c.want
		if !Verify("s3cr3t", c.e) {
			t.Errorf("%s: Verify refused the golden signature", c.name)
		}
		if Verify("other", c.e) {
			t.Errorf("%s: Verify took another secret", c.name)
		}
	}
}

func TestFormRoundTripNeverSendsSecret(t *testing.T) {
	e := Envelope{Cmd: "order.get", Body: `{"a":"b&c=d"}`, Source: "1", Ticket: NewTicket(), Timestamp: "1", Version: "3"}
	e.Sign = Sign("top-secret", e)
	f := e.Form()
	if f.Has("secret") {
		t.Fatal("the form carries the secret")
	}
	if got := EnvelopeFrom(f); got != e {
		t.Fatalf("round trip: %+v, want %+v", got, e)
	}
}

func TestNewTicket(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	a, b := NewTicket(), NewTicket()
	if !re.MatchString(a) || a == b {
		t.Fatalf("tickets %q, %q", a, b)
	}
}
