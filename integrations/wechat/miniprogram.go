package wechat

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/miniprogram"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/miniprogram/order"
	mpqrcode "github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/util"
)

// UnionProvider is the identity provider of WeChat unionids, shared by all apps of one WeChat open
// platform account.
const UnionProvider = "wechat-union"

// MiniProgramConfig is what the mini-program client needs.
type MiniProgramConfig struct {
	AppID  string
	Secret string
	// Base is the API base URL (DefaultAPIBase, a proxy, or a fake).
	Base string
	// Ready, Refunded and Moved are the subscribe-message templates for a pickup order that is ready, for
	// a refund, and for an order moved to another store; a template without an ID is not sent.
	Ready, Refunded, Moved Template
	// OrderPage is the mini-program page a message opens, given ?order_no=.
	OrderPage string
}

// MiniProgram is one WeChat mini-program as the hub uses it. Its access token is the stable token, kept
// in the shared cache and fetched again once when WeChat calls it invalid.
type MiniProgram struct {
	cfg     MiniProgramConfig
	mp      *miniprogram.MiniProgram
	cache   *Cache
	log     *slog.Logger
	release func()
}

var _ core.Messenger = (*MiniProgram)(nil)

// NewMiniProgram returns the client of one mini-program.
func NewMiniProgram(cfg MiniProgramConfig, cache *Cache, log *slog.Logger) (*MiniProgram, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: the mini-program needs an appid and a secret")
	}
	if cfg.Base == "" {
		cfg.Base = DefaultAPIBase
	}
	release, err := UseAPIBase(cfg.Base)
	if err != nil {
		return nil, err
	}
	if cfg.OrderPage == "" {
		cfg.OrderPage = "pages/order/detail"
	}
	mp := miniprogram.NewMiniProgram(&mpconfig.Config{AppID: cfg.AppID, AppSecret: cfg.Secret, Cache: cache, UseStableAK: true})
	m := &MiniProgram{cfg: cfg, mp: mp, cache: cache, log: log, release: release}
	mp.SetAccessTokenContextHandle(tokenHandle{cache: cache, key: m.tokenKey(), fetch: mp.GetContext().AccessTokenContextHandle})
	return m, nil
}

// Close gives up the process-wide API base (see UseAPIBase).
func (m *MiniProgram) Close() { m.release() }

// Channel returns the identity provider of this app's openids: "wechat:" + appid.
func (m *MiniProgram) Channel() string { return "wechat:" + m.cfg.AppID }

// AppID returns the mini-program's appid.
func (m *MiniProgram) AppID() string { return m.cfg.AppID }

// Session is a verified wx.login: the shopper's openid in this app and, when the app belongs to an open
// platform account, their unionid.
type Session struct {
	OpenID  string
	UnionID string
}

// Login exchanges a wx.login code for the shopper's identity (code2session).
func (m *MiniProgram) Login(ctx context.Context, code string) (Session, error) {
	if code == "" || len(code) > 128 {
		return Session{}, &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "code must be the 1-128 character code of wx.login"}
	}
	res, err := m.mp.GetAuth().Code2SessionContext(ctx, code)
	if err = scrub(err); err != nil {
		return Session{}, m.fail("login", err, 40029, 40163, 40226)
	}
	if res.OpenID == "" {
		return Session{}, &domain.Error{Kind: domain.ErrUnavailable, Msg: "wechat login returned no openid"}
	}
	return Session{OpenID: res.OpenID, UnionID: res.UnionID}, nil
}

// PhoneNumber exchanges a getPhoneNumber code for the verified mainland number of the shopper.
func (m *MiniProgram) PhoneNumber(ctx context.Context, code string) (string, error) {
	if code == "" || len(code) > 128 {
		return "", &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "code must be the 1-128 character code of getPhoneNumber"}
	}
	var phone string
	err := m.withToken(ctx, func() error {
		res, err := m.mp.GetAuth().GetPhoneNumberContext(ctx, code)
		if err != nil {
			return err
		}
		if res.PhoneInfo.WaterMark.AppID != "" && res.PhoneInfo.WaterMark.AppID != m.cfg.AppID {
			return &domain.Error{Kind: domain.ErrUnauthenticated, Msg: "the phone number was issued to another app"}
		}
		if res.PhoneInfo.CountryCode != "86" {
			return &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "only mainland China mobile numbers can be bound"}
		}
		phone = res.PhoneInfo.PurePhoneNumber
		return nil
	})
	if err != nil {
		return "", m.fail("phone number", err, 40029, 40163)
	}
	return phone, nil
}

// SendMessage sends a subscribe message about an order. A shopper who did not subscribe (43101) or a
// template WeChat refuses is a permanent failure: it is recorded, not retried.
func (m *MiniProgram) SendMessage(ctx context.Context, msg core.ShopperMessage) error {
	if msg.Kind == core.MessageCampaign {
		return m.sendCampaign(ctx, msg)
	}
	tpl := map[core.MessageKind]Template{core.MessageReady: m.cfg.Ready, core.MessageRefunded: m.cfg.Refunded, core.MessageRerouted: m.cfg.Moved}[msg.Kind]
	if tpl.ID == "" {
		return fmt.Errorf("%w: no template is configured for %s messages", core.ErrPermanent, msg.Kind)
	}
	data := map[string]*subscribe.DataItem{}
	for key, field := range tpl.Fields {
		data[key] = &subscribe.DataItem{Value: templateValue(key, fieldValue(field, msg))}
	}
	err := m.withToken(ctx, func() error {
		return m.mp.GetSubscribe().Send(&subscribe.Message{ToUser: msg.To, TemplateID: tpl.ID, Page: m.cfg.OrderPage + "?order_no=" + msg.OrderNo,
			Data: data, Lang: "zh_CN"})
	})
	if permanentMessageCodes[errCode(err)] {
		return fmt.Errorf("%w: subscribe message: %v", core.ErrPermanent, err)
	}
	return err
}

// sendCampaign sends a campaign's subscribe message: the campaign's own template, data (already checked
// against WeChat's limits when the campaign was created) and page. WeChat's refusals are permanent as for
// order messages: the campaign then puts the message in the member's inbox.
func (m *MiniProgram) sendCampaign(ctx context.Context, msg core.ShopperMessage) error {
	if msg.Template == "" || len(msg.Data) == 0 {
		return fmt.Errorf("%w: a campaign message needs a template and data", core.ErrPermanent)
	}
	data := make(map[string]*subscribe.DataItem, len(msg.Data))
	for key, v := range msg.Data {
		data[key] = &subscribe.DataItem{Value: v}
	}
	err := m.withToken(ctx, func() error {
		return m.mp.GetSubscribe().Send(&subscribe.Message{ToUser: msg.To, TemplateID: msg.Template, Page: msg.Page, Data: data, Lang: "zh_CN"})
	})
	if permanentMessageCodes[errCode(err)] {
		return fmt.Errorf("%w: subscribe message: %v", core.ErrPermanent, err)
	}
	return err
}

// ReportShipping uploads the shipping information of an order paid with WeChat Pay, so that WeChat
// releases the merchant's money: logistics type 4 for goods picked up at the store, 2 for same-city
// delivery by the store's courier.
func (m *MiniProgram) ReportShipping(ctx context.Context, mchID string, s core.Shipment) error {
	openid := s.Identities[m.Channel()]
	if openid == "" {
		return fmt.Errorf("%w: order %s: the payer has no openid in app %s", core.ErrPermanent, s.OrderNo, m.cfg.AppID)
	}
	desc := truncate(s.Items, 120)
	info := &order.ShippingInfo{ItemDesc: desc}
	typ := order.LogisticsTypeSelfPickup
	if !s.Pickup {
		typ = order.LogisticsTypeSameCity
		info.TrackingNo = s.Courier.TrackingNo
		if s.Courier.Phone != "" {
			info.Contact.ConsignorContact = maskContact(s.Courier.Phone)
		}
	}
	at := s.At.In(cn.Zone).Truncate(time.Second) // RFC 3339 without fractions, as WeChat requires
	req := &order.UploadShippingInfoRequest{
		OrderKey:      &order.ShippingOrderKey{OrderNumberType: order.NumberTypeOutTradeNo, Mchid: mchID, OutTradeNo: s.OrderNo},
		LogisticsType: typ, DeliveryMode: order.DeliveryModeUnifiedDelivery, ShippingList: []*order.ShippingInfo{info},
		UploadTime: &at, Payer: &order.ShippingPayer{Openid: openid},
	}
	err := m.withToken(ctx, func() error { return m.mp.GetShipping().UploadShippingInfo(req) })
	if permanentShippingCodes[errCode(err)] {
		return fmt.Errorf("%w: shipping upload: %v", core.ErrPermanent, err)
	}
	return err
}

// Errcodes that retrying cannot fix. Anything else (system busy, quota or frequency limits, a
// misconfigured token) is retried by the task worker and alerted when it keeps failing.
var (
	// 43101 not subscribed, 40003 bad openid, 40037 bad template, 47003 bad data, 41030 bad page.
	permanentMessageCodes = map[int64]bool{43101: true, 40003: true, 40037: true, 47003: true, 41030: true}
	// 10060003 uploaded too often, 10060004 fully refunded, 47001 bad data, 268485224 bad delivery mode.
	permanentShippingCodes = map[int64]bool{10060003: true, 10060004: true, 47001: true, 268485224: true}
)

// WXACode fetches the mini-program code (getwxacodeunlimit) that opens page with scene, a JPEG. WeChat
// refuses a scene over 32 characters or a page it does not know; such refusals are the caller's fault.
// Codes are kept in the shared cache once fetched: they never change for a scene and page.
func (m *MiniProgram) WXACode(ctx context.Context, scene, page string) ([]byte, error) {
	key := "wxacode:" + m.cfg.AppID + ":" + page + ":" + scene
	v, ok, err := m.cache.Lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	if ok {
		if img, err := base64.StdEncoding.DecodeString(v); err == nil {
			return img, nil
		}
	}
	img, err := m.fetchWXACode(ctx, scene, page)
	if err == nil {
		if serr := m.cache.SetContext(ctx, key, base64.StdEncoding.EncodeToString(img), 365*24*time.Hour); serr != nil {
			m.log.WarnContext(ctx, "caching a mini-program code failed", "err", serr)
		}
	}
	return img, err
}

func (m *MiniProgram) fetchWXACode(ctx context.Context, scene, page string) ([]byte, error) {
	var img []byte
	err := m.withToken(ctx, func() error {
		var err error
		img, err = m.mp.GetQRCode().GetWXACodeUnlimit(mpqrcode.QRCoder{Scene: scene, Page: page, Width: 430})
		return err
	})
	switch code := errCode(err); {
	case err == nil:
		return img, nil
	case code == 40169 || code == 40129 || code == 41030 || code == 40097:
		return nil, &domain.Error{Kind: domain.ErrInvalidArgument, Msg: fmt.Sprintf("wechat refused the mini-program code (errcode %d): check the scene and O2OHUB_WECHAT_SCAN_PAGE", code)}
	default:
		m.log.ErrorContext(ctx, "wechat mini-program code failed", "errcode", code, "err", err)
		return nil, &domain.Error{Kind: domain.ErrUnavailable, Msg: fmt.Sprintf("wechat mini-program code failed (errcode %d); try again", code)}
	}
}

// tokenKey is where the SDK caches the stable access token of this app.
func (m *MiniProgram) tokenKey() string {
	return fmt.Sprintf("%s_stable_access_token_%s", credential.CacheKeyMiniProgramPrefix, m.cfg.AppID)
}

// withToken runs call, and once more with a fresh access token when WeChat says the cached one is
// invalid or expired (another replica refreshed it, or it was revoked).
func (m *MiniProgram) withToken(ctx context.Context, call func() error) error {
	err := scrub(call())
	switch errCode(err) {
	case 40001, 42001, 40014:
		m.log.WarnContext(ctx, "wechat access token rejected; fetching a new one", "errcode", errCode(err))
		if derr := m.cache.DeleteContext(ctx, m.tokenKey()); derr != nil {
			return derr
		}
		return scrub(call())
	}
	return err
}

// fail turns a WeChat error into a core error: the listed errcodes are the caller's fault (a bad code),
// anything else means WeChat could not serve us now.
func (m *MiniProgram) fail(what string, err error, callerCodes ...int64) error {
	var ce *domain.Error
	if errors.As(err, &ce) {
		return err
	}
	code := errCode(err)
	for _, c := range callerCodes {
		if code == c {
			return &domain.Error{Kind: domain.ErrUnauthenticated, Msg: fmt.Sprintf("wechat rejected the %s code (errcode %d)", what, code)}
		}
	}
	m.log.Error("wechat call failed", "call", what, "errcode", code, "err", err)
	return &domain.Error{Kind: domain.ErrUnavailable, Msg: fmt.Sprintf("wechat %s failed (errcode %d); try again", what, code)}
}

var errcodeInText = regexp.MustCompile(`errcode=(-?\d+)`)

// errCode returns the errcode of a WeChat error: 0 for none, and -1 (WeChat's "system busy") for a
// failure without one, such as a network error; both -1 cases are worth retrying.
func errCode(err error) int64 {
	if err == nil {
		return 0
	}
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return ce.ErrCode
	}
	if m := errcodeInText.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return -1
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// maskContact masks a phone number for WeChat, which wants it masked except for the last four digits.
func maskContact(p string) string {
	r := []rune(p)
	if len(r) <= 4 {
		return p
	}
	return strings.Repeat("*", len(r)-4) + string(r[len(r)-4:])
}

var credentialInURL = regexp.MustCompile(`((?:secret|access_token|js_code)=)[^&\s"]+`)

// scrub removes credentials from an error of silenceper/wechat: its URLs carry the app secret, the
// access token and login codes, and its network and HTTP-status errors quote the whole URL. WeChat's
// own error answers (errcode, errmsg) are kept as they are.
func scrub(err error) error {
	var ce *util.CommonError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	var coreErr *domain.Error
	if errors.As(err, &coreErr) {
		return err
	}
	return errors.New(credentialInURL.ReplaceAllString(err.Error(), "${1}REDACTED"))
}
