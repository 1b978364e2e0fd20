package wechatfake

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	codeTTL  = 5 * time.Minute // wx.login and getPhoneNumber codes
	tokenTTL = 7200 * time.Second
	overlap  = 5 * time.Minute // how long an old access token stays valid after a new one is issued
)

type loginCode struct {
	openid, unionid string
	expires         time.Time
	used            bool
}

type phoneCode struct {
	phone   string
	expires time.Time
	used    bool
}

type accessToken struct {
	value   string
	expires time.Time
	stable  bool
	revoked bool
}

// Mini-program error codes (developers.weixin.qq.com; errmsg texts as WeChat writes them).
const (
	errInvalidCredential = 40001 // invalid credential, access_token is invalid or not latest
	errInvalidGrantType  = 40002
	errInvalidOpenID     = 40003
	errInvalidAppID      = 40013
	errInvalidCode       = 40029 // invalid code
	errInvalidTemplateID = 40037
	errInvalidArgs       = 40097
	errInvalidAppSecret  = 40125
	errInvalidScene      = 40129
	errCodeUsed          = 40163 // code been used
	errSceneLength       = 40169
	errTokenMissing      = 41001
	errAppIDMissing      = 41002
	errSecretMissing     = 41004
	errCodeMissing       = 41008
	errInvalidPage       = 41030
	errTokenExpired      = 42001
	errRequireGET        = 43001
	errRequirePOST       = 43002
	errUserRefused       = 43101 // the user has no outstanding subscription to the template
	errDataFormat        = 47001
	errArgumentInvalid   = 47003
	errInvalidURL        = 40066
	// upload_shipping_info
	errPayNotFound        = 10060001  // 支付单不存在
	errReshipUsed         = 10060003  // 支付单已使用重新发货机会
	errNotShippable       = 10060004  // 支付单处于不可发货的状态
	errSplitNotExpress    = 10060006  // 非快递发货时不允许分拆发货
	errSplitNeedsAll      = 10060007  // 分拆发货模式时必须填写 is_all_delivered
	errItemDescEmpty      = 10060008  // 商品描述字段不能为空
	errItemDescTooLong    = 10060009  // 商品描述字段长度超限
	errShipParam          = 10060014  // 参数错误
	errNotPayersOrder     = 10060020  // 该笔支付单不属于 openid 对应的用户
	errShippingListLong   = 10060024  // 物流信息列表太长
	errExpressCompanyLong = 10060025  // 物流公司编码太长
	errTrackingNoLong     = 10060026  // 物流单号太长
	errUploadTime         = 268485216 // 上传时间非法，请按照 RFC 3339 格式填写
	errDeliveryMode       = 268485224 // 发货模式非法
)

// mpRoutes are the mini-program endpoints: path → required method and handler.
var mpRoutes = map[string]struct {
	method string
	h      func(*Fake, http.ResponseWriter, *http.Request)
}{
	"/sns/jscode2session":                 {http.MethodGet, (*Fake).jscode2session},
	"/cgi-bin/token":                      {http.MethodGet, (*Fake).token},
	"/cgi-bin/stable_token":               {http.MethodPost, (*Fake).stableToken},
	"/wxa/business/getuserphonenumber":    {http.MethodPost, (*Fake).phoneNumber},
	"/cgi-bin/message/subscribe/send":     {http.MethodPost, (*Fake).subscribeSend},
	"/wxa/sec/order/upload_shipping_info": {http.MethodPost, (*Fake).uploadShipping},
	"/wxa/getwxacodeunlimit":              {http.MethodPost, (*Fake).wxaCodeUnlimit},
}

func (f *Fake) serveMiniProgram(w http.ResponseWriter, r *http.Request) {
	rt, ok := mpRoutes[r.URL.Path]
	switch {
	case !ok:
		mpError(w, errInvalidURL, "invalid url")
	case r.Method != rt.method && rt.method == http.MethodGet:
		mpError(w, errRequireGET, "require GET method")
	case r.Method != rt.method:
		mpError(w, errRequirePOST, "require POST method")
	default:
		rt.h(f, w, r)
	}
}

// mpJSON writes a mini-program answer (always HTTP 200, WeChat's JSON content type).
func mpJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// mpError writes {"errcode","errmsg"} with HTTP 200; WeChat appends a request id to errmsg.
func mpError(w http.ResponseWriter, code int, msg string) {
	mpJSON(w, map[string]any{"errcode": code, "errmsg": msg + " rid: " + rid()})
}

func readJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkApp validates the appid/secret pair of the login and token endpoints.
func (f *Fake) checkApp(w http.ResponseWriter, appid, secret string) bool {
	switch {
	case appid == "":
		mpError(w, errAppIDMissing, "appid missing")
	case appid != f.o.AppID:
		mpError(w, errInvalidAppID, "invalid appid")
	case secret == "":
		mpError(w, errSecretMissing, "appsecret missing")
	case secret != f.o.AppSecret:
		mpError(w, errInvalidAppSecret, "invalid appsecret")
	default:
		return true
	}
	return false
}

// GET /sns/jscode2session
func (f *Fake) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !f.checkApp(w, q.Get("appid"), q.Get("secret")) {
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		mpError(w, errInvalidGrantType, "invalid grant_type")
		return
	}
	code := q.Get("js_code")
	if code == "" {
		mpError(w, errCodeMissing, "missing code")
		return
	}
	var openid, unionid string
	f.mu.Lock()
	if name, ok := strings.CutPrefix(code, "sandbox:"); ok && f.o.Lenient && name != "" {
		openid = SandboxOpenID(f.o.AppID, name)
		f.users[openid] = true
	} else {
		c, ok := f.loginCodes[code]
		switch {
		case !ok || f.now().After(c.expires):
			f.mu.Unlock()
			mpError(w, errInvalidCode, "invalid code")
			return
		case c.used:
			f.mu.Unlock()
			mpError(w, errCodeUsed, "code been used")
			return
		}
		c.used = true
		openid, unionid = c.openid, c.unionid
	}
	f.mu.Unlock()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	resp := map[string]any{"session_key": base64.StdEncoding.EncodeToString(key), "openid": openid}
	if unionid != "" {
		resp["unionid"] = unionid
	}
	mpJSON(w, resp)
}

func (f *Fake) newTokenLocked(stable bool, now time.Time) *accessToken {
	t := &accessToken{value: "86_" + randomString(alnum+"_-", 150), expires: now.Add(tokenTTL), stable: stable}
	f.tokens[t.value] = t
	return t
}

func tokenAnswer(t *accessToken, now time.Time) map[string]any {
	return map[string]any{"access_token": t.value, "expires_in": int(math.Ceil(t.expires.Sub(now).Seconds()))}
}

// GET /cgi-bin/token: a new token on every call; the previous ones stay valid for five more minutes.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		mpError(w, errInvalidGrantType, "invalid grant_type")
		return
	}
	if !f.checkApp(w, q.Get("appid"), q.Get("secret")) {
		return
	}
	f.mu.Lock()
	now := f.now()
	for _, t := range f.tokens {
		if !t.stable && t.expires.After(now.Add(overlap)) {
			t.expires = now.Add(overlap)
		}
	}
	t := f.newTokenLocked(false, now)
	ans := tokenAnswer(t, now)
	f.mu.Unlock()
	mpJSON(w, ans)
}

// POST /cgi-bin/stable_token: the same token while it is valid (a new one in its last five minutes, the
// old one staying valid meanwhile); force_refresh invalidates it and issues a new one, at most every 30 s.
func (f *Fake) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := readJSONBody(w, r, &req); err != nil {
		mpError(w, errDataFormat, "data format error")
		return
	}
	if req.GrantType != "client_credential" {
		mpError(w, errInvalidGrantType, "invalid grant_type")
		return
	}
	if !f.checkApp(w, req.AppID, req.Secret) {
		return
	}
	f.mu.Lock()
	now := f.now()
	cur := f.stable
	usable := cur != nil && !cur.revoked && now.Before(cur.expires)
	switch {
	case req.ForceRefresh && usable && now.Sub(f.lastForce) < 30*time.Second:
		// WeChat ignores a forced refresh within 30 s of the previous one.
	case req.ForceRefresh:
		if cur != nil {
			cur.revoked = true
		}
		f.lastForce = now
		f.stable = f.newTokenLocked(true, now)
	case !usable || cur.expires.Sub(now) <= overlap:
		f.stable = f.newTokenLocked(true, now)
	}
	ans := tokenAnswer(f.stable, now)
	f.mu.Unlock()
	mpJSON(w, ans)
}

// checkToken validates ?access_token= and writes the error answer when it is not usable.
func (f *Fake) checkToken(w http.ResponseWriter, r *http.Request) bool {
	v := r.URL.Query().Get("access_token")
	if v == "" {
		mpError(w, errTokenMissing, "access_token missing")
		return false
	}
	f.mu.Lock()
	t, ok := f.tokens[v]
	now := f.now()
	f.mu.Unlock()
	switch {
	case !ok || t.revoked:
		mpError(w, errInvalidCredential, "invalid credential, access_token is invalid or not latest")
	case !now.Before(t.expires):
		mpError(w, errTokenExpired, "access_token expired")
	default:
		return true
	}
	return false
}

var mainlandMobile = regexp.MustCompile(`^1[0-9]{10}$`)

// POST /wxa/business/getuserphonenumber
func (f *Fake) phoneNumber(w http.ResponseWriter, r *http.Request) {
	if !f.checkToken(w, r) {
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := readJSONBody(w, r, &req); err != nil {
		mpError(w, errDataFormat, "data format error")
		return
	}
	if req.Code == "" {
		mpError(w, errCodeMissing, "missing code")
		return
	}
	var phone string
	f.mu.Lock()
	if p, ok := strings.CutPrefix(req.Code, "sandbox:"); ok && f.o.Lenient && mainlandMobile.MatchString(p) {
		phone = p
	} else {
		c, ok := f.phoneCodes[req.Code]
		if !ok || c.used || f.now().After(c.expires) {
			f.mu.Unlock()
			mpError(w, errInvalidCode, "invalid code")
			return
		}
		c.used = true
		phone = c.phone
	}
	now := f.now()
	f.mu.Unlock()
	mpJSON(w, map[string]any{
		"errcode": 0,
		"errmsg":  "ok",
		"phone_info": map[string]any{
			"phoneNumber":     phone,
			"purePhoneNumber": phone,
			"countryCode":     "86",
			"watermark":       map[string]any{"timestamp": now.Unix(), "appid": f.o.AppID},
		},
	})
}

// POST /cgi-bin/message/subscribe/send
func (f *Fake) subscribeSend(w http.ResponseWriter, r *http.Request) {
	if !f.checkToken(w, r) {
		return
	}
	var req struct {
		ToUser           string `json:"touser"`
		TemplateID       string `json:"template_id"`
		Page             string `json:"page"`
		MiniprogramState string `json:"miniprogram_state"`
		Lang             string `json:"lang"`
		Data             map[string]*struct {
			Value json.RawMessage `json:"value"`
		} `json:"data"`
	}
	if err := readJSONBody(w, r, &req); err != nil {
		mpError(w, errDataFormat, "data format error")
		return
	}
	f.mu.Lock()
	knownUser := f.users[req.ToUser]
	knownTemplate := f.templates[req.TemplateID]
	f.mu.Unlock()
	switch {
	case req.ToUser == "" || !knownUser:
		mpError(w, errInvalidOpenID, "invalid openid")
		return
	case req.TemplateID == "" || !knownTemplate:
		mpError(w, errInvalidTemplateID, "invalid template_id")
		return
	}
	if req.Page != "" && (req.MiniprogramState == "" || req.MiniprogramState == "formal") {
		path, _, _ := strings.Cut(strings.TrimPrefix(req.Page, "/"), "?")
		if !validPage(path) {
			mpError(w, errInvalidPage, "invalid page")
			return
		}
	}
	if len(req.Data) == 0 {
		mpError(w, errArgumentInvalid, "argument invalid! data is empty")
		return
	}
	data := make(map[string]string, len(req.Data))
	for key, item := range req.Data {
		if item == nil || len(item.Value) == 0 {
			mpError(w, errArgumentInvalid, "argument invalid! data."+key+".value is empty")
			return
		}
		var v string
		if err := json.Unmarshal(item.Value, &v); err != nil {
			var n json.Number
			if json.Unmarshal(item.Value, &n) != nil {
				mpError(w, errArgumentInvalid, "argument invalid! data."+key+".value invalid")
				return
			}
			v = n.String()
		}
		if v == "" {
			mpError(w, errArgumentInvalid, "argument invalid! data."+key+".value is empty")
			return
		}
		if !validTemplateValue(templateKind(key), v) {
			mpError(w, errArgumentInvalid, "argument invalid! data."+key+".value invalid")
			return
		}
		data[key] = v
	}
	f.mu.Lock()
	sub := subscription{req.ToUser, req.TemplateID}
	if f.subs[sub] == 0 {
		f.mu.Unlock()
		mpError(w, errUserRefused, "user refuse to accept the msg")
		return
	}
	f.subs[sub]--
	f.nextMsgID++
	msg := SentMessage{
		ToUser: req.ToUser, TemplateID: req.TemplateID, Page: req.Page, Data: data,
		MiniprogramState: req.MiniprogramState, Lang: req.Lang, MsgID: f.nextMsgID, SentAt: f.now(),
	}
	f.messages = append(f.messages, msg)
	f.mu.Unlock()
	mpJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": msg.MsgID})
}

// templateKind is a data key's parameter type: the key without its trailing digits ("thing1" → "thing").
func templateKind(key string) string {
	return strings.TrimRightFunc(key, func(r rune) bool { return r >= '0' && r <= '9' })
}

var (
	reNumber      = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	reLetter      = regexp.MustCompile(`^[A-Za-z]+$`)
	reCharString  = regexp.MustCompile(`^[\x21-\x7e]+$`)
	reTimeChars   = regexp.MustCompile(`^[0-9年月日时分秒\-/.:~ ]+$`)
	reClock       = regexp.MustCompile(`[0-9]{1,2}:[0-9]{2}`)
	reYear        = regexp.MustCompile(`[0-9]{4}`)
	reAmount      = regexp.MustCompile(`^[¥￥$€£]?[0-9]{1,10}(\.[0-9]{1,2})?元?$`)
	rePhoneNumber = regexp.MustCompile(`^[0-9+\-() ]{1,17}$`)
)

// validTemplateValue applies WeChat's documented limits for subscribe-message parameter types.
func validTemplateValue(kind, v string) bool {
	n := utf8.RuneCountInString(v)
	switch kind {
	case "thing":
		return n <= 20
	case "number":
		return len(v) <= 32 && reNumber.MatchString(v)
	case "letter":
		return n <= 32 && reLetter.MatchString(v)
	case "symbol":
		if n > 5 {
			return false
		}
		for _, r := range v {
			if !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
				return false
			}
		}
		return true
	case "character_string":
		return n <= 32 && reCharString.MatchString(v)
	case "time":
		return reTimeChars.MatchString(v) && reClock.MatchString(v)
	case "date":
		return reTimeChars.MatchString(v) && reYear.MatchString(v)
	case "amount":
		return reAmount.MatchString(v)
	case "phone_number":
		return rePhoneNumber.MatchString(v)
	case "car_number":
		return n <= 8
	case "name":
		for _, r := range v {
			if unicode.Is(unicode.Han, r) {
				return n <= 10
			}
		}
		return n <= 20
	case "phrase":
		if n > 5 {
			return false
		}
		for _, r := range v {
			if !unicode.Is(unicode.Han, r) {
				return false
			}
		}
		return true
	case "short_thing":
		return n <= 5
	default:
		return true
	}
}

var pageSegment = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validPage reports whether path names a page of the released mini-program: the fake treats pages under
// "pages/" (also inside a subpackage, "pkg/pages/…") as existing.
func validPage(path string) bool {
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if !pageSegment.MatchString(s) {
			return false
		}
	}
	for i := 0; i < len(segs)-1; i++ {
		if segs[i] == "pages" {
			return true
		}
	}
	return false
}

type shippingRequest struct {
	OrderKey *struct {
		OrderNumberType *int   `json:"order_number_type"`
		TransactionID   string `json:"transaction_id"`
		MchID           string `json:"mchid"`
		OutTradeNo      string `json:"out_trade_no"`
	} `json:"order_key"`
	LogisticsType  *int  `json:"logistics_type"`
	DeliveryMode   *int  `json:"delivery_mode"`
	IsAllDelivered *bool `json:"is_all_delivered"`
	ShippingList   []*struct {
		TrackingNo     string `json:"tracking_no"`
		ExpressCompany string `json:"express_company"`
		ItemDesc       string `json:"item_desc"`
		Contact        *struct {
			ConsignorContact string `json:"consignor_contact"`
			ReceiverContact  string `json:"receiver_contact"`
		} `json:"contact"`
	} `json:"shipping_list"`
	UploadTime *string `json:"upload_time"`
	Payer      *struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
}

// POST /wxa/sec/order/upload_shipping_info
func (f *Fake) uploadShipping(w http.ResponseWriter, r *http.Request) {
	if !f.checkToken(w, r) {
		return
	}
	var req shippingRequest
	if err := readJSONBody(w, r, &req); err != nil {
		mpError(w, errDataFormat, "data format error")
		return
	}
	sh, code, msg := f.checkShipping(&req)
	if code != 0 {
		mpError(w, code, msg)
		return
	}
	f.mu.Lock()
	var tx *Transaction
	if sh.OrderNumberType == 1 {
		if sh.MchID == f.o.MchID {
			tx = f.txs[sh.OutTradeNo]
		}
	} else {
		tx = f.txByID[sh.TransactionID]
	}
	switch {
	case tx == nil || tx.TransactionID == "":
		code, msg = errPayNotFound, "支付单不存在"
	case tx.State != "SUCCESS" && tx.State != "REFUND" || tx.Refunded >= tx.Total:
		code, msg = errNotShippable, "支付单处于不可发货的状态"
	case tx.OpenID != sh.PayerOpenID:
		code, msg = errNotPayersOrder, "该笔支付单不属于openid对应的用户"
	case f.shipCount[tx.TransactionID] >= 2:
		code, msg = errReshipUsed, "支付单已使用重新发货机会"
	}
	if code != 0 {
		f.mu.Unlock()
		mpError(w, code, msg)
		return
	}
	f.shipCount[tx.TransactionID]++
	sh.Reshipment = f.shipCount[tx.TransactionID] > 1
	if sh.TransactionID == "" {
		sh.TransactionID = tx.TransactionID
	}
	if sh.OutTradeNo == "" {
		sh.OutTradeNo, sh.MchID = tx.OutTradeNo, tx.MchID
	}
	f.shipments = append(f.shipments, sh)
	f.mu.Unlock()
	mpJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// checkShipping validates an upload's shape (everything that does not need the order).
func (f *Fake) checkShipping(req *shippingRequest) (Shipment, int, string) {
	var sh Shipment
	k := req.OrderKey
	if k == nil || k.OrderNumberType == nil {
		return sh, errShipParam, "参数错误, order_key.order_number_type 不能为空"
	}
	switch *k.OrderNumberType {
	case 1:
		if k.MchID == "" || k.OutTradeNo == "" {
			return sh, errShipParam, "参数错误, order_number_type 为 1 时 mchid 和 out_trade_no 不能为空"
		}
	case 2:
		if k.TransactionID == "" {
			return sh, errShipParam, "参数错误, order_number_type 为 2 时 transaction_id 不能为空"
		}
	default:
		return sh, errDataFormat, "data format error"
	}
	sh.OrderNumberType, sh.TransactionID, sh.MchID, sh.OutTradeNo = *k.OrderNumberType, k.TransactionID, k.MchID, k.OutTradeNo
	if sh.OrderNumberType == 1 {
		sh.TransactionID = ""
	} else {
		sh.MchID, sh.OutTradeNo = "", ""
	}
	if req.LogisticsType == nil || *req.LogisticsType < 1 || *req.LogisticsType > 4 {
		return sh, errDataFormat, "data format error"
	}
	sh.LogisticsType = *req.LogisticsType
	if req.DeliveryMode == nil || (*req.DeliveryMode != 1 && *req.DeliveryMode != 2) {
		return sh, errDeliveryMode, "发货模式非法"
	}
	sh.DeliveryMode = *req.DeliveryMode
	if sh.DeliveryMode == 2 {
		if sh.LogisticsType != 1 {
			return sh, errSplitNotExpress, "非快递发货时不允许分拆发货"
		}
		if req.IsAllDelivered == nil {
			return sh, errSplitNeedsAll, "分拆发货模式时必须填写is_all_delivered字段"
		}
	}
	if req.IsAllDelivered != nil {
		sh.IsAllDelivered = *req.IsAllDelivered
	}
	switch n := len(req.ShippingList); {
	case n == 0:
		return sh, errShipParam, "参数错误, shipping_list 不能为空"
	case n > 15:
		return sh, errShippingListLong, "物流信息列表太长"
	case n > 1 && sh.DeliveryMode == 1:
		return sh, errShipParam, "参数错误, 统一发货模式只能有一个物流单"
	}
	for i, it := range req.ShippingList {
		if it == nil {
			return sh, errDataFormat, "data format error"
		}
		desc := strings.TrimSpace(it.ItemDesc)
		switch {
		case desc == "":
			return sh, errItemDescEmpty, "商品描述字段不能为空"
		case utf8.RuneCountInString(it.ItemDesc) > 120:
			return sh, errItemDescTooLong, "商品描述字段长度超限"
		case len(it.TrackingNo) > 128:
			return sh, errTrackingNoLong, "物流单号太长"
		case len(it.ExpressCompany) > 128:
			return sh, errExpressCompanyLong, "物流公司编码太长"
		}
		item := ShipmentItem{TrackingNo: it.TrackingNo, ExpressCompany: it.ExpressCompany, ItemDesc: it.ItemDesc}
		if it.Contact != nil {
			item.ConsignorContact, item.ReceiverContact = it.Contact.ConsignorContact, it.Contact.ReceiverContact
		}
		if sh.LogisticsType == 1 {
			if it.TrackingNo == "" || it.ExpressCompany == "" {
				return sh, errShipParam, fmt.Sprintf("参数错误, 快递发货时 shipping_list[%d] 的 tracking_no 和 express_company 不能为空", i)
			}
			if it.ExpressCompany == "SF" && item.ConsignorContact == "" && item.ReceiverContact == "" {
				return sh, errShipParam, fmt.Sprintf("参数错误, 顺丰发货时 shipping_list[%d].contact 不能为空", i)
			}
		}
		sh.Items = append(sh.Items, item)
	}
	if req.UploadTime == nil {
		return sh, errUploadTime, "上传时间非法，请按照 RFC 3339 格式填写"
	}
	t, err := time.Parse(time.RFC3339Nano, *req.UploadTime)
	if err != nil {
		return sh, errUploadTime, "上传时间非法，请按照 RFC 3339 格式填写"
	}
	sh.UploadTime = t
	if req.Payer == nil || req.Payer.OpenID == "" {
		return sh, errShipParam, "参数错误, payer.openid 不能为空"
	}
	sh.PayerOpenID = req.Payer.OpenID
	return sh, 0, ""
}

var sceneChars = regexp.MustCompile(`^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$`)

// POST /wxa/getwxacodeunlimit: a JPEG mini-program code, or a JSON error.
func (f *Fake) wxaCodeUnlimit(w http.ResponseWriter, r *http.Request) {
	if !f.checkToken(w, r) {
		return
	}
	var req struct {
		Scene      *string `json:"scene"`
		Page       string  `json:"page"`
		CheckPath  *bool   `json:"check_path"`
		EnvVersion string  `json:"env_version"`
		Width      int     `json:"width"`
		AutoColor  bool    `json:"auto_color"`
		LineColor  *struct {
			R, G, B json.RawMessage
		} `json:"line_color"`
		IsHyaline bool `json:"is_hyaline"`
	}
	if err := readJSONBody(w, r, &req); err != nil || req.Scene == nil {
		mpError(w, errSceneLength, "invalid length for scene, or the data is not json string")
		return
	}
	scene := *req.Scene
	if scene == "" || len(scene) > 32 {
		mpError(w, errSceneLength, "invalid length for scene, or the data is not json string")
		return
	}
	if !sceneChars.MatchString(scene) {
		mpError(w, errInvalidScene, "invalid scene")
		return
	}
	switch req.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		mpError(w, errInvalidArgs, "invalid args")
		return
	}
	if req.Page != "" {
		checkPath := req.CheckPath == nil || *req.CheckPath
		if strings.HasPrefix(req.Page, "/") || strings.Contains(req.Page, "?") || (checkPath && !validPage(req.Page)) {
			mpError(w, errInvalidPage, "invalid page")
			return
		}
	}
	width := req.Width
	switch {
	case width == 0:
		width = 430
	case width < 280:
		width = 280
	case width > 1280:
		width = 1280
	}
	line := color.RGBA{0, 0, 0, 255}
	if req.LineColor != nil && !req.AutoColor {
		line = color.RGBA{colorByte(req.LineColor.R), colorByte(req.LineColor.G), colorByte(req.LineColor.B), 255}
	}
	img := drawCode(width, line, []byte(req.Page+"\x00"+scene+"\x00"+req.EnvVersion))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		mpError(w, -1, "system error")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// colorByte reads a line_color component, which WeChat documents as a decimal string ("0"–"255").
func colorByte(raw json.RawMessage) uint8 {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return uint8(min(n, 255))
}

// drawCode renders a round, code-like pattern determined by seed: a picture, not a scannable code.
func drawCode(width int, line color.RGBA, seed []byte) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, width, width))
	white := color.RGBA{255, 255, 255, 255}
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	bits := sha256.Sum256(seed)
	stream := bits[:]
	next := func(i int) bool {
		if i/8 >= len(stream) {
			h := sha256.Sum256(stream)
			stream = append(stream, h[:]...)
		}
		return stream[i/8]>>(uint(i)%8)&1 == 1
	}
	const grid = 29
	cell := float64(width) / grid
	c := float64(width) / 2
	n := 0
	for y := 0; y < grid; y++ {
		for x := 0; x < grid; x++ {
			cx, cy := (float64(x)+0.5)*cell, (float64(y)+0.5)*cell
			d := math.Hypot(cx-c, cy-c)
			if d > c*0.95 || d < c*0.3 {
				continue
			}
			n++
			if !next(n) {
				continue
			}
			fillDot(img, cx, cy, cell*0.42, line)
		}
	}
	fillDot(img, c, c, c*0.26, line)
	fillDot(img, c, c, c*0.2, white)
	return img
}

func fillDot(img *image.RGBA, cx, cy, r float64, col color.RGBA) {
	b := img.Bounds()
	for y := int(cy - r); y <= int(cy+r); y++ {
		for x := int(cx - r); x <= int(cx+r); x++ {
			if !(image.Point{x, y}).In(b) {
				continue
			}
			if math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy) <= r {
				img.SetRGBA(x, y, col)
			}
		}
	}
}
