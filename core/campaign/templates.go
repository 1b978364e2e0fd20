package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Template is a subscribe-message template registered for campaigns.
type Template struct {
	TemplateID string `json:"template_id"`
	// Title is the operator's name for it ("会员活动通知").
	Title string `json:"title"`
	// Fields are the template's data keys as the mini-program console shows them ("thing1", "time2").
	Fields []string `json:"fields"`
	// Usable says whether new campaigns may use it.
	Usable    bool      `json:"usable"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TemplateInput is what an admin says about a template; Usable is true when absent.
type TemplateInput struct {
	Title  string   `json:"title"`
	Fields []string `json:"fields"`
	Usable *bool    `json:"usable"`
}

var (
	templateID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	fieldKey   = regexp.MustCompile(`^[a-z]+(_[a-z]+)*[0-9]{1,2}$`)
)

// PutTemplate registers or changes a template for campaigns; by is who did it. A template is never
// deleted (campaigns refer to it): an admin marks it unusable instead.
func (s *Service) PutTemplate(ctx context.Context, id string, in TemplateInput, by string) (Template, error) {
	var bad []string
	if !templateID.MatchString(id) {
		bad = append(bad, "template_id must be 1-64 letters, digits, _ or - (the ID of the mini-program console)")
	}
	in.Title = strings.TrimSpace(in.Title)
	if utf8.RuneCountInString(in.Title) > 40 {
		bad = append(bad, "title must be at most 40 characters")
	}
	if len(in.Fields) == 0 || len(in.Fields) > 10 {
		bad = append(bad, "fields must list 1-10 data keys")
	}
	seen := map[string]bool{}
	for i, f := range in.Fields {
		switch {
		case !fieldKey.MatchString(f) || len(f) > 32:
			bad = append(bad, fmt.Sprintf("fields[%d] must be a data key such as thing1 or time2", i))
		case seen[f]:
			bad = append(bad, fmt.Sprintf("fields[%d] %s is listed twice", i, f))
		}
		seen[f] = true
	}
	if len(bad) > 0 {
		return Template{}, domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	usable := in.Usable == nil || *in.Usable
	fields := slices.Clone(in.Fields)
	slices.Sort(fields)
	b, _ := json.Marshal(fields)
	now := s.Now()
	row := models.CampaignTemplate{TemplateID: id, Title: in.Title, Fields: string(b), Usable: usable, UpdatedBy: by, CreatedAt: now, UpdatedAt: now}
	err := s.DB.Conn(ctx).Exec(`INSERT INTO campaign_templates (template_id, title, fields, usable, updated_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (template_id) DO UPDATE SET title = excluded.title, fields = excluded.fields, usable = excluded.usable,
	updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		row.TemplateID, row.Title, row.Fields, row.Usable, row.UpdatedBy, row.CreatedAt, row.UpdatedAt).Error
	if err != nil {
		return Template{}, err
	}
	return toTemplate(row), nil
}

// Templates lists the registered templates by ID.
func (s *Service) Templates(ctx context.Context) ([]Template, error) {
	var rows []models.CampaignTemplate
	if err := s.DB.Conn(ctx).Order("template_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(rows))
	for _, r := range rows {
		out = append(out, toTemplate(r))
	}
	return out, nil
}

func (s *Service) template(ctx context.Context, id string) (Template, bool, error) {
	var row models.CampaignTemplate
	err := s.DB.Conn(ctx).Where("template_id = ?", id).Take(&row).Error
	if models.IsNotFound(err) {
		return Template{}, false, nil
	}
	if err != nil {
		return Template{}, false, err
	}
	return toTemplate(row), true, nil
}

func toTemplate(r models.CampaignTemplate) Template {
	t := Template{TemplateID: r.TemplateID, Title: r.Title, Usable: r.Usable, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal([]byte(r.Fields), &t.Fields)
	return t
}

var (
	reNumber   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	reLetter   = regexp.MustCompile(`^[A-Za-z]+$`)
	reASCII    = regexp.MustCompile(`^[\x21-\x7e]+$`)
	reAmount   = regexp.MustCompile(`^[¥￥]?[0-9]{1,10}(\.[0-9]{1,2})?元?$`)
	rePhone    = regexp.MustCompile(`^[0-9+\-() ]{1,17}$`)
	reTime     = regexp.MustCompile(`^[0-9年月日时分秒\-/.:~ ]+$`)
	reKindTail = regexp.MustCompile(`[0-9]+$`)
)

// checkValue applies WeChat's documented limits of a data key's type to a value, so that a campaign
// WeChat would refuse for every recipient is refused when it is created; "" when the value fits.
func checkValue(key, v string) string {
	n := utf8.RuneCountInString(v)
	if n == 0 {
		return "must not be empty"
	}
	switch kind := reKindTail.ReplaceAllString(key, ""); kind {
	case "thing":
		if n > 20 {
			return "must be at most 20 characters (a thing value)"
		}
	case "phrase":
		if n > 5 {
			return "must be at most 5 characters (a phrase value)"
		}
	case "name":
		if n > 10 {
			return "must be at most 10 characters (a name value)"
		}
	case "character_string":
		if n > 32 || !reASCII.MatchString(v) {
			return "must be at most 32 printable ASCII characters (a character_string value)"
		}
	case "number":
		if len(v) > 32 || !reNumber.MatchString(v) {
			return "must be a number of at most 32 characters"
		}
	case "letter":
		if n > 32 || !reLetter.MatchString(v) {
			return "must be at most 32 letters"
		}
	case "amount":
		if !reAmount.MatchString(v) {
			return "must be an amount such as 12.50元"
		}
	case "phone_number":
		if !rePhone.MatchString(v) {
			return "must be a phone number of at most 17 digits, +, -, ( ) or spaces"
		}
	case "time", "date":
		if n > 32 || !reTime.MatchString(v) {
			return "must be a date or time such as 2026-05-01 10:00"
		}
	case "symbol":
		if n > 5 || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPunct(r) && !unicode.IsSymbol(r) }) >= 0 {
			return "must be at most 5 punctuation marks or symbols"
		}
	default:
		if n > 20 {
			return "must be at most 20 characters"
		}
	}
	return ""
}
