package alipayfake

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// GatewayPath is where the fake serves the gateway, as openapi.alipay.com does.
const GatewayPath = "/gateway.do"

// timestampTolerance is how far a request's timestamp may be from the fake's clock.
const timestampTolerance = 15 * time.Minute

// Options configures a Fake.
type Options struct {
	AppID, SellerID string           // the app (default "9021000000000001") and its merchant's 2088… user id (default derived)
	Keys            Keys             // the deployment's keys; zero means freshly generated ones (see Fake.Keys)
	Mode            Mode             // PublicKeyMode or CertMode (which needs the certificates in Keys)
	Lenient         bool             // sandbox: auth codes "sandbox:<name>" accepted (user_id "2088" + 12 digits derived from name)
	AutoPay         time.Duration    // >0 (sandbox): every new trade is paid by a simulated buyer after the delay and notified
	Now             func() time.Time // the clock (default time.Now); request timestamps are checked against it (±15 min)
	Client          *http.Client     // posts notifications; default a client with a 10 s timeout
	Log             *slog.Logger     // default discards
}

// Fake is an in-memory Alipay gateway. It is an http.Handler serving GatewayPath; it is safe for
// concurrent use.
type Fake struct {
	appID, sellerID string
	keys            Keys
	mode            Mode
	lenient         bool
	autoPay         time.Duration
	now             func() time.Time
	client          *http.Client
	log             *slog.Logger

	appPub                          *rsa.PublicKey
	aesKey                          []byte
	appCertSN, rootSN, alipayCertSN string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	seq       int64
	trades    map[string]*Trade // by out_trade_no
	tradeNos  map[string]string // trade_no → out_trade_no
	codes     map[string]user   // single-use auth codes
	refreshes map[string]user
}

// user is who an auth code or token stands for.
type user struct{ userID, openID string }

// New returns a Fake. It panics if the options cannot work (cert mode without certificates, keys that do
// not fit together): those are programming errors, not runtime conditions.
func New(o Options) *Fake {
	if o.Keys.AppKey == nil && o.Keys.AlipayKey == nil {
		k, err := GenerateKeys()
		if err != nil {
			panic(fmt.Sprintf("alipayfake: generate keys: %v", err))
		}
		o.Keys = k
	}
	if o.Keys.AppKey == nil || o.Keys.AlipayKey == nil {
		panic("alipayfake: Keys needs AppKey and AlipayKey")
	}
	if err := o.Keys.checkCerts(); err != nil {
		panic(err.Error())
	}
	if o.AppID == "" {
		o.AppID = "9021000000000001"
	}
	if o.SellerID == "" {
		o.SellerID = derivedUserID("seller:" + o.AppID)
	}
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
		appID: o.AppID, sellerID: o.SellerID, keys: o.Keys, mode: o.Mode, lenient: o.Lenient,
		autoPay: o.AutoPay, now: o.Now, client: o.Client, log: o.Log.With("component", "alipayfake"),
		appPub:    &o.Keys.AppKey.PublicKey,
		trades:    map[string]*Trade{},
		tradeNos:  map[string]string{},
		codes:     map[string]user{},
		refreshes: map[string]user{},
	}
	if o.Keys.AESKey != "" {
		key, err := base64.StdEncoding.DecodeString(o.Keys.AESKey)
		if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
			panic("alipayfake: AESKey must be base64 of a 16-, 24- or 32-byte key")
		}
		f.aesKey = key
	}
	if o.Mode == CertMode {
		if err := o.Keys.certModeReady(); err != nil {
			panic(err.Error())
		}
		f.appPub = o.Keys.AppCert.PublicKey.(*rsa.PublicKey)
		f.appCertSN = CertSN(o.Keys.AppCert)
		f.rootSN = rootCertSN(o.Keys.RootCertPEM())
		f.alipayCertSN = CertSN(o.Keys.AlipayCert)
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// Keys returns the deployment's keys (useful when New generated them).
func (f *Fake) Keys() Keys { return f.keys }

// AppID returns the app id the fake answers to.
func (f *Fake) AppID() string { return f.appID }

// SellerID returns the merchant's Alipay user id (seller_id in notifications).
func (f *Fake) SellerID() string { return f.sellerID }

// Close stops simulated buyers and pending notification retries and waits for them to finish. The
// gateway keeps answering requests.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// goBackground runs fn in a goroutine that Close waits for; it does nothing once Close was called.
func (f *Fake) goBackground(fn func(ctx context.Context)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn(f.ctx)
	}()
}

func (f *Fake) clock() time.Time { return f.now().In(chinaTime) }

// gwError is a gateway-level (non-business) error: code 40001/40002/…, an isv.* sub-code.
type gwError struct {
	code, msg, subCode, subMsg string
	errorResponse              bool // answered under "error_response" rather than the method's key
	unsigned                   bool // the app is unknown, so there is nothing to sign for
}

func missing(subCode, subMsg string) *gwError {
	return &gwError{code: "40001", msg: "Missing Required Arguments", subCode: subCode, subMsg: subMsg}
}

func invalid(subCode, subMsg string) *gwError {
	return &gwError{code: "40002", msg: "Invalid Arguments", subCode: subCode, subMsg: subMsg}
}

func (e *gwError) object() *object {
	return (&object{}).str("code", e.code).str("msg", e.msg).str("sub_code", e.subCode).str("sub_msg", e.subMsg)
}

// request is a verified gateway call.
type request struct {
	method    string
	params    url.Values
	biz       map[string]any
	encrypted bool // encrypt_type=AES: biz_content arrived encrypted and the answer goes back encrypted
}

// handlers maps the supported methods to their implementations. A handler returns the *_response
// object, or a gateway error, or asks for the answer to go under "error_response" (oauth errors).
var handlers = map[string]func(f *Fake, r *request) (resp *object, errResp *gwError, after func()){
	"alipay.system.oauth.token":         (*Fake).oauthToken,
	"alipay.trade.create":               (*Fake).tradeCreate,
	"alipay.trade.query":                (*Fake).tradeQuery,
	"alipay.trade.close":                (*Fake).tradeClose,
	"alipay.trade.refund":               (*Fake).tradeRefund,
	"alipay.trade.fastpay.refund.query": (*Fake).refundQuery,
}

// ServeHTTP answers gateway calls at GatewayPath (POST form body, or GET with a query).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != GatewayPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		err = r.ParseMultipartForm(1 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		f.writeError(w, "error_response", invalid("isv.invalid-parameter", "参数无效: "+err.Error()))
		return
	}
	req, gerr := f.check(r.Form)
	key := "error_response"
	if m := r.Form.Get("method"); handlers[m] != nil {
		key = strings.ReplaceAll(m, ".", "_") + "_response"
	}
	if gerr != nil {
		if gerr.errorResponse {
			key = "error_response"
		}
		f.log.Info("gateway error", "method", r.Form.Get("method"), "sub_code", gerr.subCode)
		f.writeError(w, key, gerr)
		return
	}
	resp, errResp, after := handlers[req.method](f, req)
	if errResp != nil {
		f.log.Info("gateway error", "method", req.method, "sub_code", errResp.subCode)
		f.writeError(w, "error_response", errResp)
		return
	}
	f.log.Debug("gateway call", "method", req.method, "code", resp.get("code"), "sub_code", resp.get("sub_code"))
	if err := f.writeResponse(w, key, resp.bytes(), req.encrypted); err != nil {
		f.log.Error("write response", "err", err)
	}
	if after != nil {
		after()
	}
}

// check validates the common parameters and the signature, in the spirit of Alipay's public error codes
// (opendocs.alipay.com/common/02km9f).
func (f *Fake) check(form url.Values) (*request, *gwError) {
	get := form.Get
	method := get("method")
	if method == "" {
		e := missing("isv.missing-method", "缺少方法名参数")
		e.errorResponse, e.unsigned = true, get("app_id") != f.appID
		return nil, e
	}
	switch appID := get("app_id"); {
	case appID == "":
		e := missing("isv.missing-app-id", "缺少appId参数")
		e.unsigned = true
		return nil, e
	case appID != f.appID:
		e := invalid("isv.invalid-app-id", "无效的AppID参数")
		e.unsigned = true
		return nil, e
	}
	if handlers[method] == nil {
		f.log.Warn("unsupported method (real Alipay may know it; the fake does not)", "method", method)
		e := invalid("isv.invalid-method", "不存在的方法名")
		e.errorResponse = true
		return nil, e
	}
	if get("sign") == "" {
		return nil, missing("isv.missing-signature", "缺少签名参数")
	}
	switch st := get("sign_type"); st {
	case "":
		return nil, missing("isv.missing-signature-type", "缺少签名类型参数")
	case "RSA2":
	default:
		return nil, invalid("isv.invalid-signature-type", "无效的签名类型: 应用仅配置了RSA2，sign_type必须为RSA2")
	}
	ts := get("timestamp")
	if ts == "" {
		return nil, missing("isv.missing-timestamp", "缺少时间戳参数")
	}
	t, err := time.ParseInLocation(timeLayout, ts, chinaTime)
	if err != nil {
		return nil, invalid("isv.invalid-timestamp", "非法的时间戳参数")
	}
	if d := f.clock().Sub(t); d > timestampTolerance || d < -timestampTolerance {
		return nil, invalid("isv.invalid-timestamp", "非法的时间戳参数: 与支付宝服务器时间(北京时间)相差过大")
	}
	switch v := get("version"); v {
	case "":
		return nil, missing("isv.missing-version", "缺少版本参数")
	case "1.0":
	default:
		return nil, invalid("isv.invalid-parameter", "参数无效: version必须为1.0")
	}
	if cs := get("charset"); !strings.EqualFold(cs, "utf-8") {
		return nil, invalid("isv.invalid-charset", "字符集错误: 仅支持utf-8")
	}
	if fm := get("format"); fm != "" && !strings.EqualFold(fm, "json") {
		return nil, invalid("isv.invalid-format", "无效的数据格式")
	}
	if get("app_auth_token") != "" {
		return nil, &gwError{code: "20001", msg: "Insufficient Token Permissions", subCode: "aop.invalid-app-auth-token", subMsg: "无效的应用授权令牌"}
	}
	if f.mode == CertMode {
		if sn := get("app_cert_sn"); sn != f.appCertSN {
			return nil, invalid("isv.invalid-signature", "验签出错，应用公钥证书序列号app_cert_sn不匹配: "+sn)
		}
		if sn := get("alipay_root_cert_sn"); sn != f.rootSN {
			return nil, invalid("isv.invalid-signature", "验签出错，支付宝根证书序列号alipay_root_cert_sn不匹配: "+sn)
		}
	}
	content := requestSignContent(form)
	if err := rsa2Verify(f.appPub, []byte(content), get("sign")); err != nil {
		return nil, invalid("isv.invalid-signature",
			"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："+strings.ReplaceAll(content, "&", "&amp;"))
	}
	req := &request{method: method, params: form}
	bizText := get("biz_content")
	switch et := get("encrypt_type"); et {
	case "":
	case "AES":
		if f.aesKey == nil {
			return nil, invalid("isv.decryption-error-not-valid-encrypt-key", "解密出错, 未配置加密密钥或加密密钥格式错误")
		}
		plain, err := aesDecrypt(f.aesKey, bizText)
		if err != nil {
			return nil, invalid("isv.invalid-encrypt", "解密异常")
		}
		bizText, req.encrypted = string(plain), true
	default:
		return nil, invalid("isv.invalid-encrypt-type", "无效的加密类型")
	}
	req.biz = map[string]any{}
	if bizText != "" {
		dec := json.NewDecoder(strings.NewReader(bizText))
		dec.UseNumber()
		if err := dec.Decode(&req.biz); err != nil || dec.More() {
			return nil, invalid("isv.invalid-parameter", "参数无效: biz_content不是合法的JSON对象")
		}
	}
	return req, nil
}

// writeError answers a gateway error, signed unless the app is unknown.
func (f *Fake) writeError(w http.ResponseWriter, key string, e *gwError) {
	body := e.object().bytes()
	if e.unsigned {
		f.write(w, key, body, "")
		return
	}
	if err := f.writeResponse(w, key, body, false); err != nil {
		f.log.Error("write response", "err", err)
	}
}

// writeResponse signs value (encrypting it first if asked) and writes the envelope.
func (f *Fake) writeResponse(w http.ResponseWriter, key string, value []byte, encrypt bool) error {
	if encrypt {
		enc, err := aesEncrypt(f.aesKey, value)
		if err != nil {
			return err
		}
		// The signature covers the JSON string as written, quotes included: the string is plain base64,
		// so it is written without escapes.
		value = []byte(`"` + enc + `"`)
	}
	sign, err := rsa2Sign(f.keys.AlipayKey, value)
	if err != nil {
		return err
	}
	f.write(w, key, value, sign)
	return nil
}

func (f *Fake) write(w http.ResponseWriter, key string, value []byte, sign string) {
	var b bytes.Buffer
	b.WriteString(`{` + quote(key) + `:`)
	b.Write(value)
	if sign != "" {
		if f.mode == CertMode {
			b.WriteString(`,"alipay_cert_sn":"` + f.alipayCertSN + `"`)
		}
		b.WriteString(`,"sign":"` + sign + `"`)
	}
	b.WriteString("}")
	// The real gateway declares text/html although the body is JSON.
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// derivedUserID is a stable Alipay-style user id ("2088" and 12 digits) for a name.
func derivedUserID(name string) string {
	sum := sha256.Sum256([]byte("user-id:" + name))
	return fmt.Sprintf("2088%012d", binary.BigEndian.Uint64(sum[:8])%1_000_000_000_000)
}

// derivedOpenID is a stable open_id for a name, shaped like Alipay's (an app-scoped opaque id).
func derivedOpenID(appID, name string) string {
	sum := sha256.Sum256([]byte("open-id:" + appID + ":" + name))
	return "0" + base64.RawURLEncoding.EncodeToString(sum[:])[:42]
}

// readCapped reads at most n bytes of r.
func readCapped(r io.Reader, n int64) string {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return string(b)
}
