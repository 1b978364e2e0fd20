package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/qrcode"
)

func (h *api) createQRCode(c *gin.Context) {
	var in shelf.QRInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Shelf.CreateQRCode(c.Request.Context(), in)
	respond(c, http.StatusCreated, out, err)
}

func (h *api) storeQRCodes(c *gin.Context) {
	out, err := h.Service.Shelf.StoreQRCodes(c.Request.Context(), c.Param("code"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) listQRCodes(c *gin.Context) {
	out, err := h.Service.Shelf.QRCodes(c.Request.Context(), c.Query("store"))
	respond(c, http.StatusOK, out, err)
}

// qrCode serves one code: its description, or with a .png suffix its QR image (?size= pixels).
func (h *api) qrCode(c *gin.Context) {
	code, png := strings.CutSuffix(c.Param("code"), ".png")
	v, err := h.Service.Shelf.QRCode(c.Request.Context(), code)
	if err != nil {
		respondError(c, err)
		return
	}
	if !png {
		c.JSON(http.StatusOK, v)
		return
	}
	size := qrcode.DefaultSize
	if raw := c.Query("size"); raw != "" {
		if size, err = strconv.Atoi(raw); err != nil || size < qrcode.MinSize || size > qrcode.MaxSize {
			respondError(c, kindError(domain.ErrInvalidArgument, "size must be "+strconv.Itoa(qrcode.MinSize)+"-"+strconv.Itoa(qrcode.MaxSize)+" pixels"))
			return
		}
	}
	img, err := qrcode.PNG(v.URL, size)
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("Cache-Control", "private, max-age=86400")
	c.Data(http.StatusOK, "image/png", img)
}

// qrWXACode serves the WeChat mini-program code of a code: the scan page with the short code as scene.
func (h *api) qrWXACode(c *gin.Context) {
	v, err := h.Service.Shelf.QRCode(c.Request.Context(), c.Param("code"))
	if err != nil {
		respondError(c, err)
		return
	}
	img, err := h.WeChat.WXACode(c.Request.Context(), v.Code, h.ScanPage)
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("Cache-Control", "private, max-age=86400")
	c.Data(http.StatusOK, "image/jpeg", img)
}

func (h *api) disableQRCode(c *gin.Context) {
	if err := h.Service.Shelf.DisableQRCode(c.Request.Context(), c.Param("code")); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *api) putTraceBatch(c *gin.Context) {
	var in shelf.TraceBatchInput
	if !bindJSON(c, &in) {
		return
	}
	in.BatchNo = c.Param("no")
	out, err := h.Service.Shelf.PutTraceBatch(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) traceUnitCodes(c *gin.Context) {
	var in struct {
		Count int    `json:"count"`
		Store string `json:"store"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Shelf.TraceUnitCodes(c.Request.Context(), c.Param("no"), in.Store, in.Count)
	respond(c, http.StatusCreated, out, err)
}

// scanReport reports scans and conversions for ?store= over ?from=..?to= (YYYY-MM-DD, China time;
// the last 30 days by default).
func (h *api) scanReport(c *gin.Context) {
	now := h.Clock.Now()
	from, to := now.AddDate(0, 0, -29), now
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"from", &from}, {"to", &to}} {
		if raw := c.Query(p.name); raw != "" {
			t, err := time.ParseInLocation("2006-01-02", raw, cn.Zone)
			if err != nil {
				respondError(c, kindError(domain.ErrInvalidArgument, p.name+" must be YYYY-MM-DD"))
				return
			}
			*p.into = t
		}
	}
	out, err := h.Service.Shelf.ScanReport(c.Request.Context(), c.Query("store"), from, to)
	respond(c, http.StatusOK, out, err)
}

// scan is the mini-programs' scan endpoint: what the code shows, as JSON.
func (h *api) scan(c *gin.Context) {
	out, err := h.Service.Shelf.Scan(c.Request.Context(), c.Param("code"), h.scanFrom(c, true))
	respond(c, http.StatusOK, out, err)
}

// landing is where a printed QR leads a phone camera or a browser: a small page with the same facts and
// links into the mini-programs. Scanned inside Alipay, with a link configured, it goes straight to the
// mini-program, which reports the scan itself. (Inside WeChat a link cannot open a mini-program from a
// web page: register the /q/ prefix under 扫普通链接二维码打开小程序 so WeChat opens it before this page.)
// Unknown or withdrawn codes get a friendly page.
func (h *api) landing(c *gin.Context) {
	code := qrcode.NormalizeCode(c.Param("code"))
	from := h.scanFrom(c, true)
	alipayLink := strings.ReplaceAll(h.AlipayLink, "{code}", code)
	redirect := from.Channel == qrcode.ChannelAlipay && h.AlipayLink != ""
	from.Count = !redirect
	v, err := h.Service.Shelf.Scan(c.Request.Context(), code, from)
	var page bytes.Buffer
	switch {
	case errors.Is(err, domain.ErrNotFound):
		notFoundPage(c, code, errors.Is(err, shelf.ErrCodeDisabled))
		return
	case err != nil:
		respondError(c, err)
		return
	}
	if redirect {
		c.Redirect(http.StatusFound, alipayLink)
		return
	}
	wechatLink := strings.ReplaceAll(h.WechatLink, "{code}", v.Code)
	if err := qrcode.WriteLanding(&page, landingPage(v, wechatLink, alipayLink)); err != nil {
		respondError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
}

// scanFrom describes the scanner of a request: its channel by User-Agent, its address and, when it
// carries a valid shopper session (the mini-program sends it), the member. A bad session only goes
// unused: scans need none.
func (h *api) scanFrom(c *gin.Context, count bool) shelf.ScanFrom {
	ua := c.GetHeader("User-Agent")
	from := shelf.ScanFrom{Channel: qrcode.Channel(ua), Addr: c.ClientIP(), Count: count}
	if tok := bearer(c); tok != "" {
		if id, err := h.Service.Members.Authenticate(c.Request.Context(), tok); err == nil {
			from.Member = id
		}
	}
	return from
}

func landingPage(v shelf.ScanView, wechatLink, alipayLink string) qrcode.Landing {
	l := qrcode.Landing{Code: v.Code, Kind: v.Kind, Available: v.Available, Campaign: v.Campaign, Warning: v.Warning, WeChatLink: wechatLink, AlipayLink: alipayLink}
	if v.Store != nil {
		l.StoreName, l.StoreAddress = v.Store.Name, v.Store.Address
	}
	if v.Product != nil {
		l.ProductName, l.SKU, l.PriceFen = v.Product.Name, v.Product.SKU, v.Product.PriceFen
	}
	for _, n := range v.Nearby {
		l.Nearby = append(l.Nearby, qrcode.NearbyStore{Name: n.Store.Name, Address: n.Store.Address, DistanceM: n.DistanceM, Available: n.Available})
	}
	if v.Trace != nil {
		t := &qrcode.Trace{BatchNo: v.Trace.BatchNo}
		for _, st := range v.Trace.Steps {
			d, _ := time.ParseInLocation("2006-01-02", st.Date, cn.Zone)
			t.Steps = append(t.Steps, qrcode.TraceStep{Step: st.Step, Date: d, Place: st.Place, Document: st.Document})
		}
		l.Trace = t
	}
	return l
}

// labels serves a store's printable label sheet in the console, making the shelf codes it lacks: to an
// admin for any store, to a clerk for their own (another store's sheet is not found).
func (h *api) labels(c *gin.Context) {
	a, code := conActor(c), c.Param("code")
	if !a.IsAdmin() && code != a.Store {
		h.conRefuse(c, http.StatusNotFound, "门店不存在或不属于您。")
		return
	}
	sheet, err := h.Service.Shelf.LabelSheet(c.Request.Context(), code)
	if err != nil {
		msg, status := conErrorText(c, "store", err)
		h.conRefuse(c, status, msg)
		return
	}
	var page bytes.Buffer
	if err := qrcode.WriteSheet(&page, sheet); err != nil {
		h.conFail(c, err)
		return
	}
	// The sheet is self-contained: inline styles, data: images and one inline handler (its print button).
	c.Header("Content-Security-Policy", labelsCSP)
	c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
}

// notFoundPage answers a scan of an unknown (404) or withdrawn (410) code with the friendly page.
func notFoundPage(c *gin.Context, code string, withdrawn bool) {
	var page bytes.Buffer
	if err := qrcode.WriteNotFound(&page, code, withdrawn); err != nil {
		respondError(c, err)
		return
	}
	status := http.StatusNotFound
	if withdrawn {
		status = http.StatusGone
	}
	c.Data(status, "text/html; charset=utf-8", page.Bytes())
}

// scanLimit limits the public scan endpoints per client address, so they cannot be used to probe codes
// or flood the counters cheaply.
func scanLimit(perSecond float64) gin.HandlerFunc {
	if perSecond <= 0 {
		return func(*gin.Context) {}
	}
	return rateLimit(perSecond, int(5*perSecond)+1)
}
