package wechatfake

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// Mode says which key WeChat Pay signs responses and notifications with.
type Mode int

const (
	// PublicKeyMode signs with Keys.PlatformKey and sends Keys.PublicKeyID in Wechatpay-Serial, as WeChat
	// Pay does for merchants that use a "WeChat Pay public key".
	PublicKeyMode Mode = iota
	// CertificateMode signs with Keys.CertKey and sends the platform certificate's serial, as WeChat Pay
	// does for merchants that verify with downloaded platform certificates.
	CertificateMode
)

// String returns the mode's name.
func (m Mode) String() string {
	if m == CertificateMode {
		return "certificate"
	}
	return "public-key"
}

// Options configure a Fake.
type Options struct {
	// AppID and AppSecret are the one mini-program this fake knows.
	AppID, AppSecret string
	// MchID is the one merchant this fake knows.
	MchID string
	// Keys is the deployment's key material.
	Keys Keys
	// Mode chooses the key that signs responses and notifications (a request's Wechatpay-Serial header
	// naming the other key overrides it for that response, as during WeChat's migration to public keys).
	Mode Mode
	// Lenient (sandbox) also accepts login codes "sandbox:<name>", whose openid is derived from the appid
	// and name, and phone codes "sandbox:<11-digit phone>". Such codes are reusable.
	Lenient bool
	// AutoPay (sandbox), when positive, has a simulated shopper pay every new JSAPI prepay after this
	// delay; its TRANSACTION.SUCCESS notification is posted and retried a few times on failure.
	AutoPay time.Duration
	// RefundDelay is how long refunds stay PROCESSING before they succeed and notify; 0 means right after
	// the refund request has been answered.
	RefundDelay time.Duration
	// TemplateIDs optionally lists the subscribe-message templates the mini-program has. When empty, a
	// template is known once Subscribe has named it; sends to an unknown template answer 40037.
	TemplateIDs []string
	// Now is the clock; the default is time.Now.
	Now func() time.Time
	// Client posts notifications; the default has a 10 s timeout.
	Client *http.Client
	// Log receives the fake's diagnostics (undeliverable notifications); the default discards them.
	Log *slog.Logger
}

// Transaction is the fake's record of one JSAPI order.
type Transaction struct {
	AppID         string    // the mini-program's appid
	MchID         string    // the merchant's mchid
	OutTradeNo    string    // the merchant's order number
	TransactionID string    // WeChat Pay's order number (28 digits), set once paid
	State         string    // trade_state: NOTPAY, SUCCESS, CLOSED or REFUND
	Total         int64     // amount.total in fen
	Refunded      int64     // fen accepted for refund (processing or succeeded)
	OpenID        string    // the payer's openid
	PrepayID      string    // "wx…", for wx.requestPayment
	NotifyURL     string    // where TRANSACTION.SUCCESS goes
	Description   string    // the prepay's description
	Attach        string    // the prepay's attach, echoed in queries and notifications
	BankType      string    // set once paid ("OTHERS": change balance)
	CreateTime    time.Time // when the prepay was accepted
	SuccessTime   time.Time // set once paid
}

// RefundRecord is the fake's record of one refund.
type RefundRecord struct {
	OutRefundNo   string    // the merchant's refund number
	RefundID      string    // WeChat Pay's refund number ("50…", 29 digits)
	OutTradeNo    string    // the refunded order's number
	TransactionID string    // the refunded order's WeChat Pay number
	Reason        string    // the request's reason
	NotifyURL     string    // where REFUND.SUCCESS goes ("" sends none)
	Refund        int64     // amount.refund in fen
	Total         int64     // amount.total in fen: the order total
	Status        string    // PROCESSING or SUCCESS
	CreateTime    time.Time // when the refund was accepted
	SuccessTime   time.Time // set once SUCCESS
}

// SentMessage is a subscribe message the fake accepted.
type SentMessage struct {
	ToUser           string            // the recipient's openid
	TemplateID       string            // the template
	Page             string            // the page the message opens ("" for none)
	Data             map[string]string // template key ("thing1") → value
	MiniprogramState string            // developer, trial, formal or ""
	Lang             string            // zh_CN, en_US, zh_HK, zh_TW or ""
	MsgID            int64             // the msgid answered
	SentAt           time.Time         // when it was accepted
}

// Shipment is a shipping-info upload the fake accepted, as parsed from the request.
type Shipment struct {
	OrderNumberType int            // 1: MchID + OutTradeNo, 2: TransactionID
	TransactionID   string         // the payment's WeChat Pay number (filled in for type 1 too)
	MchID           string         // the payment's merchant (filled in for type 2 too)
	OutTradeNo      string         // the payment's order number (filled in for type 2 too)
	LogisticsType   int            // 1 express, 2 same-city, 3 virtual, 4 picked up by the user
	DeliveryMode    int            // 1 unified, 2 split
	IsAllDelivered  bool           // is_all_delivered (split deliveries)
	Items           []ShipmentItem // shipping_list
	UploadTime      time.Time      // upload_time
	PayerOpenID     string         // payer.openid
	Reshipment      bool           // a second upload for the same payment (WeChat allows one)
}

// ShipmentItem is one entry of a shipment's shipping_list.
type ShipmentItem struct {
	TrackingNo       string // tracking_no (express only)
	ExpressCompany   string // express_company, a delivery id such as "YTO" (express only)
	ItemDesc         string // item_desc
	ConsignorContact string // contact.consignor_contact (masked phone)
	ReceiverContact  string // contact.receiver_contact (masked phone)
}

// Fake is an in-process WeChat mini-program server and WeChat Pay APIv3 server. It implements
// http.Handler; serve it (httptest.NewServer, or a sandbox listener) and point the clients' base URLs at
// it. It is safe for concurrent use.
type Fake struct {
	o      Options
	log    *slog.Logger
	client *http.Client

	stop     chan struct{} // closed by Close: ends retry waits
	wg       sync.WaitGroup
	requests atomic.Int64

	mu                      sync.Mutex
	closed                  bool
	timers                  map[*time.Timer]struct{}
	loginCodes              map[string]*loginCode
	phoneCodes              map[string]*phoneCode
	users                   map[string]bool // openids this mini-program has seen
	tokens                  map[string]*accessToken
	stable                  *accessToken
	lastForce               time.Time
	subs                    map[subscription]int
	templates               map[string]bool
	messages                []SentMessage
	nextMsgID               int64
	shipments               []Shipment
	shipCount               map[string]int          // transaction id → accepted uploads
	txs                     map[string]*Transaction // by out_trade_no
	txByID                  map[string]*Transaction // by transaction_id
	prepays                 map[string]prepayParams // by out_trade_no: the parameters of the first prepay
	refunds                 map[string]*RefundRecord
	refundNotifyBeforeReply bool
}

type subscription struct{ openid, template string }

// New returns a Fake for the options.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	f := &Fake{
		o:          o,
		log:        o.Log,
		client:     o.Client,
		stop:       make(chan struct{}),
		timers:     map[*time.Timer]struct{}{},
		loginCodes: map[string]*loginCode{},
		phoneCodes: map[string]*phoneCode{},
		users:      map[string]bool{},
		tokens:     map[string]*accessToken{},
		subs:       map[subscription]int{},
		templates:  map[string]bool{},
		nextMsgID:  2800000000000000000,
		shipCount:  map[string]int{},
		txs:        map[string]*Transaction{},
		txByID:     map[string]*Transaction{},
		prepays:    map[string]prepayParams{},
		refunds:    map[string]*RefundRecord{},
	}
	for _, id := range o.TemplateIDs {
		f.templates[id] = true
	}
	return f
}

// ServeHTTP answers mini-program API calls and, under /v3/, WeChat Pay APIv3 calls.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v3/") {
		f.servePay(w, r)
		return
	}
	f.serveMiniProgram(w, r)
}

// Close stops the AutoPay and refund timers and notification retries, and waits for notifications
// already being posted. The handler keeps answering API calls.
func (f *Fake) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.stop)
		for t := range f.timers {
			if t.Stop() {
				f.wg.Done()
			}
			delete(f.timers, t)
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// after runs fn after d on its own goroutine, unless the fake is closed first.
func (f *Fake) after(d time.Duration, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer f.wg.Done()
		f.mu.Lock()
		delete(f.timers, t)
		f.mu.Unlock()
		select {
		case <-f.stop:
			return
		default:
		}
		fn()
	})
	f.timers[t] = struct{}{}
}

// sleep waits d, and reports false if the fake was closed meanwhile.
func (f *Fake) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.stop:
		return false
	}
}

func (f *Fake) now() time.Time { return f.o.Now() }

// IssueLoginCode returns a single-use wx.login code that jscode2session exchanges for openid (and
// unionid, when not empty). It is valid for five minutes, as WeChat's are.
func (f *Fake) IssueLoginCode(openid, unionid string) string {
	code := randomString(alnum, 32)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginCodes[code] = &loginCode{openid: openid, unionid: unionid, expires: f.now().Add(codeTTL)}
	f.users[openid] = true
	return code
}

// IssuePhoneCode returns a single-use getPhoneNumber code for a mainland number such as "13800138000",
// valid for five minutes.
func (f *Fake) IssuePhoneCode(phone string) string {
	code := randomHex(64)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phoneCodes[code] = &phoneCode{phone: phone, expires: f.now().Add(codeTTL)}
	return code
}

// Subscribe records that the user accepted the template once (wx.requestSubscribeMessage): it allows
// exactly one message, as WeChat's one-time subscriptions do.
func (f *Fake) Subscribe(openid, templateID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[openid] = true
	if len(f.o.TemplateIDs) == 0 {
		f.templates[templateID] = true
	}
	f.subs[subscription{openid, templateID}]++
}

// ExpireAccessTokens invalidates every access token issued so far: calls with them answer errcode 40001,
// and the stable-token endpoint hands out a new one.
func (f *Fake) ExpireAccessTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tokens {
		t.revoked = true
	}
}

// Messages returns the subscribe messages accepted so far, oldest first.
func (f *Fake) Messages() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]SentMessage, len(f.messages))
	for i, m := range f.messages {
		m.Data = cloneMap(m.Data)
		out[i] = m
	}
	return out
}

// Shipments returns the shipping uploads accepted so far, oldest first.
func (f *Fake) Shipments() []Shipment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Shipment, len(f.shipments))
	for i, s := range f.shipments {
		s.Items = append([]ShipmentItem(nil), s.Items...)
		out[i] = s
	}
	return out
}

// Transaction returns the order with that out_trade_no.
func (f *Fake) Transaction(outTradeNo string) (Transaction, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx, ok := f.txs[outTradeNo]
	if !ok {
		return Transaction{}, false
	}
	return *tx, true
}

// Refund returns the refund with that out_refund_no.
func (f *Fake) Refund(outRefundNo string) (RefundRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.refunds[outRefundNo]
	if !ok {
		return RefundRecord{}, false
	}
	return *r, true
}

// SetRefundNotifyBeforeReply, when on, makes a refund succeed and its REFUND.SUCCESS notification be
// posted (and its reply awaited) before the refund request is answered; the answer still says
// PROCESSING, as a reply delayed in the network would.
func (f *Fake) SetRefundNotifyBeforeReply(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refundNotifyBeforeReply = on
}

// Requests returns how many WeChat Pay API requests passed authentication.
func (f *Fake) Requests() int { return int(f.requests.Load()) }

// SandboxOpenID returns the openid a Lenient fake gives the login code "sandbox:<name>": "o" followed by
// 27 base64url characters of SHA-256(appid, name).
func SandboxOpenID(appID, name string) string {
	sum := sha256.Sum256([]byte(appID + "\x00" + name))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// china is the zone WeChat writes its times in (+08:00).
var china = cn.Zone

func rfc3339China(t time.Time) string { return t.In(china).Format(time.RFC3339) }

// rid returns a WeChat-style request id ("6502d3a1-0f1c2b3d-4e5f6a7b").
func rid() string {
	return fmt.Sprintf("%s-%s-%s", randomHex(8), randomHex(8), randomHex(8))
}
