package wechatfake

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/miniprogram/order"
	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
)

// mpCall posts (or gets, when body is nil) a mini-program API path on srv and decodes the JSON answer.
func mpCall(t *testing.T, srv *httptest.Server, path string, body any) map[string]any {
	t.Helper()
	var resp *http.Response
	var err error
	if body == nil {
		resp, err = http.Get(srv.URL + path)
	} else {
		b, _ := json.Marshal(body)
		resp, err = http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d (WeChat answers errors with 200)", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", path, ct)
	}
	var m map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func errcode(m map[string]any) int64 {
	n, ok := m["errcode"].(json.Number)
	if !ok {
		return 0
	}
	v, _ := n.Int64()
	return v
}

func wantErrcode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), code) {
		t.Fatalf("err = %v, want errcode %s", err, code)
	}
}

func TestLoginWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	mp, _ := newMiniProgram(t, srv, testSecret)
	ctx := context.Background()

	code := f.IssueLoginCode("oAlice0000000000000000000001", "oUnion00000000000000000000001")
	res, err := mp.GetAuth().Code2SessionContext(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if res.OpenID != "oAlice0000000000000000000001" || res.UnionID != "oUnion00000000000000000000001" || res.SessionKey == "" {
		t.Fatalf("session = %+v", res)
	}
	_, err = mp.GetAuth().Code2SessionContext(ctx, code)
	wantErrcode(t, err, "40163")
	_, err = mp.GetAuth().Code2SessionContext(ctx, "071GLHll2RmOSd4Pd2ml2nvlK41GLHlT")
	wantErrcode(t, err, "40029")
	_, err = mp.GetAuth().Code2SessionContext(ctx, "sandbox:alice")
	wantErrcode(t, err, "40029") // not lenient

	noUnion := f.IssueLoginCode("oBob", "")
	m := mpCall(t, srv, "/sns/jscode2session?appid="+testAppID+"&secret="+testSecret+"&js_code="+noUnion+"&grant_type=authorization_code", nil)
	if _, ok := m["unionid"]; ok || m["openid"] != "oBob" || errcode(m) != 0 {
		t.Fatalf("answer = %v", m)
	}

	bad, _ := newMiniProgram(t, srv, "wrong-secret")
	_, err = bad.GetAuth().Code2SessionContext(ctx, f.IssueLoginCode("oC", ""))
	wantErrcode(t, err, "40125")
	m = mpCall(t, srv, "/sns/jscode2session?appid=wx0000&secret="+testSecret+"&js_code=x&grant_type=authorization_code", nil)
	if errcode(m) != 40013 {
		t.Fatalf("wrong appid: %v", m)
	}
}

func TestLoginCodeExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f, srv := newFake(t, func(o *Options) { o.Now = clock })
	code := f.IssueLoginCode("oLate", "")
	mu.Lock()
	now = now.Add(5*time.Minute + time.Second)
	mu.Unlock()
	m := mpCall(t, srv, "/sns/jscode2session?appid="+testAppID+"&secret="+testSecret+"&js_code="+code+"&grant_type=authorization_code", nil)
	if errcode(m) != 40029 {
		t.Fatalf("expired code: %v", m)
	}
}

func TestLenientLoginAndPhone(t *testing.T) {
	_, srv := newFake(t, func(o *Options) { o.Lenient = true })
	mp, _ := newMiniProgram(t, srv, testSecret)
	ctx := context.Background()
	for range 2 { // sandbox codes are reusable
		res, err := mp.GetAuth().Code2SessionContext(ctx, "sandbox:alice")
		if err != nil {
			t.Fatal(err)
		}
		if want := SandboxOpenID(testAppID, "alice"); res.OpenID != want || len(want) != 28 || want[0] != 'o' {
			t.Fatalf("openid = %q, want %q", res.OpenID, want)
		}
	}
	if SandboxOpenID(testAppID, "alice") == SandboxOpenID(testAppID, "bob") {
		t.Fatal("sandbox openids collide")
	}
	ph, err := mp.GetAuth().GetPhoneNumberContext(ctx, "sandbox:13912345678")
	if err != nil {
		t.Fatal(err)
	}
	if ph.PhoneInfo.PurePhoneNumber != "13912345678" {
		t.Fatalf("phone = %+v", ph.PhoneInfo)
	}
	_, err = mp.GetAuth().GetPhoneNumberContext(ctx, "sandbox:1391234567")
	wantErrcode(t, err, "40029")
}

func TestPhoneNumberWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	mp, cache := newMiniProgram(t, srv, testSecret)
	ctx := context.Background()
	code := f.IssuePhoneCode("13800138000")
	res, err := mp.GetAuth().GetPhoneNumberContext(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	pi := res.PhoneInfo
	if pi.PhoneNumber != "13800138000" || pi.PurePhoneNumber != "13800138000" || pi.CountryCode != "86" ||
		pi.WaterMark.AppID != testAppID || pi.WaterMark.Timestamp == 0 {
		t.Fatalf("phone_info = %+v", pi)
	}
	_, err = mp.GetAuth().GetPhoneNumberContext(ctx, code)
	wantErrcode(t, err, "40029") // single use
	_, err = mp.GetAuth().GetPhoneNumberContext(ctx, "not-a-code")
	wantErrcode(t, err, "40029")

	// An expired token: the cached one now answers 40001; dropping it and asking again recovers.
	f.ExpireAccessTokens()
	_, err = mp.GetAuth().GetPhoneNumberContext(ctx, f.IssuePhoneCode("13800138001"))
	wantErrcode(t, err, "40001")
	cache.m = nil
	res, err = mp.GetAuth().GetPhoneNumberContext(ctx, f.IssuePhoneCode("13800138001"))
	if err != nil || res.PhoneInfo.PhoneNumber != "13800138001" {
		t.Fatalf("after refresh: %v %+v", err, res)
	}
}

func TestAccessTokens(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f, srv := newFake(t, func(o *Options) { o.Now = clock })
	stable := func(force bool) (string, int64) {
		m := mpCall(t, srv, "/cgi-bin/stable_token", map[string]any{
			"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": force})
		if errcode(m) != 0 {
			t.Fatalf("stable_token: %v", m)
		}
		n, _ := m["expires_in"].(json.Number).Int64()
		return m["access_token"].(string), n
	}
	use := func(tok string) int64 {
		return errcode(mpCall(t, srv, "/wxa/business/getuserphonenumber?access_token="+tok, map[string]string{"code": f.IssuePhoneCode("13800138000")}))
	}

	a, exp := stable(false)
	if exp != 7200 {
		t.Fatalf("expires_in = %d", exp)
	}
	advance(time.Hour)
	if b, exp := stable(false); b != a || exp != 3600 {
		t.Fatalf("normal mode gave %q (%d s), want the same token with 3600 s left", b, exp)
	}
	b, _ := stable(true)
	if b == a {
		t.Fatal("force_refresh kept the old token")
	}
	if code := use(a); code != 40001 {
		t.Fatalf("old token after force_refresh: errcode %d, want 40001", code)
	}
	if c, _ := stable(true); c != b {
		t.Fatal("a second forced refresh within 30 s was not ignored")
	}
	if c, _ := stable(false); c != b {
		t.Fatal("normal mode after a forced refresh changed the token")
	}
	if code := use(b); code != 0 {
		t.Fatalf("current token: errcode %d", code)
	}
	// In its last five minutes a stable token is replaced; the old one stays valid until it expires.
	advance(7200*time.Second - 4*time.Minute)
	c, exp := stable(false)
	if c == b || exp != 7200 {
		t.Fatalf("near expiry: %q (%d s)", c, exp)
	}
	if code := use(b); code != 0 {
		t.Fatalf("old token during the overlap: errcode %d", code)
	}
	advance(5 * time.Minute)
	if code := use(b); code != 42001 {
		t.Fatalf("expired token: errcode %d, want 42001", code)
	}
	f.ExpireAccessTokens()
	if code := use(c); code != 40001 {
		t.Fatalf("after ExpireAccessTokens: errcode %d, want 40001", code)
	}
	if d, _ := stable(false); d == c || use(d) != 0 {
		t.Fatal("stable_token did not replace an invalidated token")
	}
	if code := errcode(mpCall(t, srv, "/wxa/business/getuserphonenumber", map[string]string{"code": "x"})); code != 41001 {
		t.Fatalf("no token: errcode %d", code)
	}

	// GET /cgi-bin/token: a new token per call, the previous one valid five minutes more.
	tok := func() string {
		m := mpCall(t, srv, "/cgi-bin/token?grant_type=client_credential&appid="+testAppID+"&secret="+testSecret, nil)
		return m["access_token"].(string)
	}
	t1 := tok()
	t2 := tok()
	if t1 == t2 || use(t1) != 0 || use(t2) != 0 {
		t.Fatal("cgi-bin/token: want two distinct valid tokens")
	}
	advance(5*time.Minute + time.Second)
	if use(t1) != 42001 || use(t2) != 0 {
		t.Fatal("cgi-bin/token: the replaced token should expire after five minutes")
	}
	if m := mpCall(t, srv, "/cgi-bin/token?grant_type=client_credential&appid="+testAppID+"&secret=nope", nil); errcode(m) != 40125 {
		t.Fatalf("wrong secret: %v", m)
	}
}

func TestSubscribeWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	mp, _ := newMiniProgram(t, srv, testSecret)
	const tmpl = "bDmywsp2oEHjwAadTGKkUHpC0RgBVPvfAnWLAyA2Ajc"
	openid := "oAlice"
	f.IssueLoginCode(openid, "")
	msg := &subscribe.Message{
		ToUser: openid, TemplateID: tmpl, Page: "pages/order/detail?id=42",
		Data: map[string]*subscribe.DataItem{
			"character_string1": {Value: "O2024051200042"},
			"thing2":            {Value: "取货码 8812"},
			"amount3":           {Value: "¥12.50"},
			"time4":             {Value: "2024年5月12日 15:01"},
			"phrase5":           {Value: "待取货"},
		},
	}
	s := mp.GetSubscribe()
	// Before the user accepted the template, WeChat does not know it (no TemplateIDs configured).
	wantErrcode(t, s.Send(msg), "40037")
	f.Subscribe(openid, tmpl)
	if err := s.Send(msg); err != nil {
		t.Fatal(err)
	}
	wantErrcode(t, s.Send(msg), "43101") // one message per acceptance
	got := f.Messages()
	if len(got) != 1 || got[0].ToUser != openid || got[0].Data["thing2"] != "取货码 8812" || got[0].MsgID == 0 {
		t.Fatalf("messages = %+v", got)
	}

	f.Subscribe(openid, tmpl)
	cases := []struct {
		name string
		edit func(m *subscribe.Message)
		code string
	}{
		{"unknown openid", func(m *subscribe.Message) { m.ToUser = "oNobody" }, "40003"},
		{"unknown template", func(m *subscribe.Message) { m.TemplateID = "nope" }, "40037"},
		{"page outside the app", func(m *subscribe.Message) { m.Page = "admin/index" }, "41030"},
		{"no data", func(m *subscribe.Message) { m.Data = nil }, "47003"},
		{"empty value", func(m *subscribe.Message) { m.Data = map[string]*subscribe.DataItem{"thing1": {Value: ""}} }, "47003"},
		{"thing over 20", func(m *subscribe.Message) {
			m.Data = map[string]*subscribe.DataItem{"thing1": {Value: strings.Repeat("取", 21)}}
		}, "47003"},
		{"phrase not Chinese", func(m *subscribe.Message) { m.Data = map[string]*subscribe.DataItem{"phrase1": {Value: "ready"}} }, "47003"},
		{"amount with letters", func(m *subscribe.Message) { m.Data = map[string]*subscribe.DataItem{"amount1": {Value: "12 RMB"}} }, "47003"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := *msg
			c.edit(&m)
			wantErrcode(t, s.Send(&m), c.code)
		})
	}
	// The outstanding acceptance was not consumed by the failures.
	if err := s.Send(msg); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribeConfiguredTemplates(t *testing.T) {
	f, srv := newFake(t, func(o *Options) { o.TemplateIDs = []string{"TMPL_A"} })
	f.IssueLoginCode("oA", "")
	tok := mpCall(t, srv, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret})["access_token"].(string)
	send := func(tmpl string) int64 {
		return errcode(mpCall(t, srv, "/cgi-bin/message/subscribe/send?access_token="+tok, map[string]any{
			"touser": "oA", "template_id": tmpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}}))
	}
	if c := send("TMPL_A"); c != 43101 {
		t.Fatalf("known template without acceptance: %d, want 43101", c)
	}
	f.Subscribe("oA", "TMPL_B")
	if c := send("TMPL_B"); c != 40037 {
		t.Fatalf("template outside TemplateIDs: %d, want 40037", c)
	}
}

// paidOrder creates an order through the WeChat Pay API and has it paid without a notification.
func paidOrder(t *testing.T, f *Fake, srv *httptest.Server, no, openid string) Transaction {
	t.Helper()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	_, _, err := svc.Prepay(context.Background(), jsapi.PrepayRequest{
		Appid: core.String(testAppID), Mchid: core.String(testMchID), Description: core.String("提货 A12"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://hub.example.com/webhooks/wechatpay"),
		Amount: &jsapi.Amount{Total: core.Int64(1250)}, Payer: &jsapi.Payer{Openid: core.String(openid)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	tx, _ := f.Transaction(no)
	return tx
}

func TestShippingWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	mp, _ := newMiniProgram(t, srv, testSecret)
	sh := mp.GetShipping()
	tx := paidOrder(t, f, srv, "O20240512000042", "oPayer")
	now := time.Now()
	pickup := func() *order.UploadShippingInfoRequest {
		return &order.UploadShippingInfoRequest{
			OrderKey:      &order.ShippingOrderKey{OrderNumberType: order.NumberTypeOutTradeNo, Mchid: testMchID, OutTradeNo: tx.OutTradeNo},
			LogisticsType: order.LogisticsTypeSelfPickup,
			DeliveryMode:  order.DeliveryModeUnifiedDelivery,
			ShippingList:  []*order.ShippingInfo{{ItemDesc: "矿泉水*2"}},
			UploadTime:    &now,
			Payer:         &order.ShippingPayer{Openid: "oPayer"},
		}
	}
	cases := []struct {
		name string
		edit func(r *order.UploadShippingInfoRequest)
		code string
	}{
		{"unknown order", func(r *order.UploadShippingInfoRequest) { r.OrderKey.OutTradeNo = "O404" }, "10060001"},
		{"other merchant", func(r *order.UploadShippingInfoRequest) { r.OrderKey.Mchid = "1900000000" }, "10060001"},
		{"no transaction_id", func(r *order.UploadShippingInfoRequest) { r.OrderKey.OrderNumberType = order.NumberTypeTransactionID }, "10060014"},
		{"another payer", func(r *order.UploadShippingInfoRequest) { r.Payer.Openid = "oSomeoneElse" }, "10060020"},
		{"logistics type 5", func(r *order.UploadShippingInfoRequest) { r.LogisticsType = 5 }, "47001"},
		{"delivery mode 0", func(r *order.UploadShippingInfoRequest) { r.DeliveryMode = 0 }, "268485224"},
		{"express without tracking", func(r *order.UploadShippingInfoRequest) { r.LogisticsType = order.LogisticsTypeExpress }, "10060014"},
		{"split pickup", func(r *order.UploadShippingInfoRequest) { r.DeliveryMode = order.DeliveryModeSplitDelivery }, "10060006"},
		{"empty list", func(r *order.UploadShippingInfoRequest) { r.ShippingList = nil }, "10060014"},
		{"no item_desc", func(r *order.UploadShippingInfoRequest) { r.ShippingList[0].ItemDesc = "" }, "10060008"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := pickup()
			c.edit(r)
			wantErrcode(t, sh.UploadShippingInfo(r), c.code)
		})
	}
	if len(f.Shipments()) != 0 {
		t.Fatal("a refused upload was recorded")
	}
	if err := sh.UploadShippingInfo(pickup()); err != nil {
		t.Fatal(err)
	}
	// By transaction id, as an express parcel: WeChat's one re-shipment.
	express := pickup()
	express.OrderKey = &order.ShippingOrderKey{OrderNumberType: order.NumberTypeTransactionID, TransactionID: tx.TransactionID}
	express.LogisticsType = order.LogisticsTypeExpress
	express.ShippingList = []*order.ShippingInfo{{TrackingNo: "YT7407032196699", ExpressCompany: "YTO", ItemDesc: "矿泉水*2",
		Contact: order.ShippingContact{ReceiverContact: "138****8000"}}}
	if err := sh.UploadShippingInfo(express); err != nil {
		t.Fatal(err)
	}
	wantErrcode(t, sh.UploadShippingInfo(pickup()), "10060003")
	got := f.Shipments()
	if len(got) != 2 || got[0].LogisticsType != 4 || got[0].OutTradeNo != tx.OutTradeNo || got[0].TransactionID != tx.TransactionID ||
		got[0].Reshipment || !got[1].Reshipment || got[1].Items[0].TrackingNo != "YT7407032196699" || got[1].PayerOpenID != "oPayer" {
		t.Fatalf("shipments = %+v", got)
	}

	// An unpaid order cannot be shipped; a malformed upload_time is refused with WeChat's code.
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, _, err := svc.Prepay(context.Background(), jsapi.PrepayRequest{
		Appid: core.String(testAppID), Mchid: core.String(testMchID), Description: core.String("x"),
		OutTradeNo: core.String("O20240512000043"), NotifyUrl: core.String("https://hub.example.com/n"),
		Amount: &jsapi.Amount{Total: core.Int64(1)}, Payer: &jsapi.Payer{Openid: core.String("oPayer")},
	}); err != nil {
		t.Fatal(err)
	}
	unpaid := pickup()
	unpaid.OrderKey.OutTradeNo = "O20240512000043"
	wantErrcode(t, sh.UploadShippingInfo(unpaid), "10060001") // no payment order exists before payment
	tok := mpCall(t, srv, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret})["access_token"].(string)
	raw := map[string]any{
		"order_key":      map[string]any{"order_number_type": 1, "mchid": testMchID, "out_trade_no": tx.OutTradeNo},
		"logistics_type": 4, "delivery_mode": 1,
		"shipping_list": []any{map[string]any{"item_desc": "x"}},
		"upload_time":   "2024-12-29T11:18:45.035+0800",
		"payer":         map[string]any{"openid": "oPayer"},
	}
	if c := errcode(mpCall(t, srv, "/wxa/sec/order/upload_shipping_info?access_token="+tok, raw)); c != 268485216 {
		t.Fatalf("upload_time without colon: errcode %d", c)
	}
}

func TestShippingRefundedOrder(t *testing.T) {
	f, srv := newFake(t, nil)
	tx := paidOrder(t, f, srv, "O20240512000050", "oPayer")
	f.mu.Lock()
	f.txs[tx.OutTradeNo].Refunded = tx.Total
	f.txs[tx.OutTradeNo].State = "REFUND"
	f.mu.Unlock()
	tok := mpCall(t, srv, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret})["access_token"].(string)
	raw := map[string]any{
		"order_key":      map[string]any{"order_number_type": 2, "transaction_id": tx.TransactionID},
		"logistics_type": 4, "delivery_mode": 1,
		"shipping_list": []any{map[string]any{"item_desc": "x"}},
		"upload_time":   time.Now().Format(time.RFC3339),
		"payer":         map[string]any{"openid": "oPayer"},
	}
	if c := errcode(mpCall(t, srv, "/wxa/sec/order/upload_shipping_info?access_token="+tok, raw)); c != 10060004 {
		t.Fatalf("fully refunded order: errcode %d, want 10060004", c)
	}
}

func TestWXACodeWithSDK(t *testing.T) {
	_, srv := newFake(t, nil)
	mp, _ := newMiniProgram(t, srv, testSecret)
	qr := mp.GetQRCode()
	img, err := qr.GetWXACodeUnlimit(qrcode.QRCoder{Scene: "s=A12&t=9", Page: "pages/shelf/index"})
	if err != nil {
		t.Fatal(err)
	}
	pic, err := jpeg.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	if b := pic.Bounds(); b.Dx() != 430 || b.Dy() != 430 {
		t.Fatalf("size %v, want the default 430", b)
	}
	img2, err := qr.GetWXACodeUnlimit(qrcode.QRCoder{Scene: "s=A13&t=9", Page: "pages/shelf/index", Width: 280})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(img, img2) {
		t.Fatal("different scenes gave the same picture")
	}
	no := false
	cases := []struct {
		name string
		q    qrcode.QRCoder
		code string
	}{
		{"scene over 32", qrcode.QRCoder{Scene: strings.Repeat("a", 33)}, "40169"},
		{"no scene", qrcode.QRCoder{Page: "pages/index/index"}, "40169"},
		{"scene with a space", qrcode.QRCoder{Scene: "a b"}, "40129"},
		{"scene with unicode", qrcode.QRCoder{Scene: "货架=1"}, "40129"},
		{"unknown page", qrcode.QRCoder{Scene: "a=1", Page: "admin/index"}, "41030"},
		{"leading slash", qrcode.QRCoder{Scene: "a=1", Page: "/pages/index/index"}, "41030"},
		{"query in page", qrcode.QRCoder{Scene: "a=1", Page: "pages/index/index?a=1", CheckPath: &no}, "41030"},
		{"bad env_version", qrcode.QRCoder{Scene: "a=1", EnvVersion: "beta"}, "40097"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := qr.GetWXACodeUnlimit(c.q)
			wantErrcode(t, err, c.code)
		})
	}
	if _, err := qr.GetWXACodeUnlimit(qrcode.QRCoder{Scene: "a=1", Page: "admin/index", CheckPath: &no}); err != nil {
		t.Fatalf("check_path false: %v", err)
	}
}

func TestMiniProgramWire(t *testing.T) {
	_, srv := newFake(t, nil)
	if c := errcode(mpCall(t, srv, "/cgi-bin/stable_token", nil)); c != 43002 {
		t.Fatalf("GET on a POST endpoint: %d", c)
	}
	if c := errcode(mpCall(t, srv, "/wxa/no/such/api", nil)); c != 40066 {
		t.Fatalf("unknown path: %d", c)
	}
	resp, err := http.Post(srv.URL+"/cgi-bin/stable_token", "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ErrCode != 47001 || !strings.Contains(m.ErrMsg, "rid: ") {
		t.Fatalf("malformed body: %s", b)
	}
	m2 := mpCall(t, srv, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret})
	if _, ok := m2["errcode"]; ok {
		t.Fatalf("a successful token answer carries no errcode: %v", m2)
	}
}
