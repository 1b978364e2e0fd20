package events

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/webhook"
)

// RotationOverlap is how long an endpoint's previous secret still signs after a rotation.
const RotationOverlap = 24 * time.Hour

// Endpoint is what an admin says about a webhook endpoint.
type Endpoint struct {
	// URL receives the events: https (http only with the sandbox on).
	URL string `json:"url"`
	// Events are the types it wants, or "*" for every type that is not explicit.
	Events []string `json:"events"`
	// Enabled endpoints receive events; re-enabling one resumes its waiting deliveries.
	Enabled *bool `json:"enabled"`
}

// EndpointView is a webhook endpoint as the admin API shows it. Secret is shown only when it is issued.
type EndpointView struct {
	Name           string    `json:"name"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	Secret         string    `json:"secret,omitempty"`
	Rotating       bool      `json:"rotating,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (s *Service) endpointView(ep models.WebhookEndpoint) EndpointView {
	v := EndpointView{Name: ep.Name, URL: ep.URL, Events: []string{}, Enabled: ep.Enabled, DisabledReason: ep.DisabledReason,
		Rotating: ep.PreviousUntil != nil && ep.PreviousUntil.After(s.Now()), CreatedAt: ep.CreatedAt.UTC(), UpdatedAt: ep.UpdatedAt.UTC()}
	_ = json.Unmarshal([]byte(ep.Events), &v.Events)
	return v
}

func (s *Service) needSender() error {
	if s.sender == nil {
		return domain.Errf(domain.ErrUnavailable, "webhooks are off in this process")
	}
	return nil
}

// PutEndpoint creates or changes the endpoint name. A new endpoint answers with its signing secret,
// shown this once; a changed one keeps its secret and does not show it.
func (s *Service) PutEndpoint(ctx context.Context, name string, in Endpoint) (EndpointView, error) {
	if err := s.needSender(); err != nil {
		return EndpointView{}, err
	}
	if !endpointName.MatchString(name) {
		return EndpointView{}, domain.Errf(domain.ErrInvalidArgument, "name must be 1-63 lowercase letters, digits, - or _, starting with a letter or digit")
	}
	if len(in.Events) == 0 {
		return EndpointView{}, domain.Errf(domain.ErrInvalidArgument, `events must name at least one event type, or "*"`)
	}
	for _, t := range in.Events {
		if _, ok := lookup(t); !ok && t != "*" {
			return EndpointView{}, domain.Errf(domain.ErrInvalidArgument, "events: %q is not an event type (GET /api/v1/admin/events/types lists them)", t)
		}
	}
	if err := s.sender.Check(ctx, in.URL); err != nil {
		return EndpointView{}, domain.Errf(domain.ErrInvalidArgument, "url: %v", err)
	}
	types := slices.Compact(slices.Sorted(slices.Values(in.Events)))
	b, _ := json.Marshal(types)
	enabled := in.Enabled == nil || *in.Enabled
	var out EndpointView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		tx := s.DB.Conn(ctx)
		now := s.Now()
		var ep models.WebhookEndpoint
		err := tx.Clauses(models.ForUpdate()).Where("name = ?", name).Take(&ep).Error
		switch {
		case models.IsNotFound(err):
			secret, err := webhook.NewSecret()
			if err != nil {
				return err
			}
			ep = models.WebhookEndpoint{Name: name, URL: in.URL, Events: string(b), Enabled: enabled, Secret: secret, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&ep).Error; err != nil {
				return err
			}
			out = s.endpointView(ep)
			out.Secret = secret
			return nil
		case err != nil:
			return err
		}
		ep.URL, ep.Events, ep.UpdatedAt = in.URL, string(b), now
		if enabled && !ep.Enabled {
			ep.DisabledReason = ""
		}
		if !enabled && ep.Enabled {
			ep.DisabledReason = "disabled by an admin"
		}
		ep.Enabled = enabled
		if err := tx.Select("url", "events", "enabled", "disabled_reason", "updated_at").Save(&ep).Error; err != nil {
			return err
		}
		out = s.endpointView(ep)
		return nil
	})
	if err == nil && enabled {
		s.nudge()
	}
	return out, err
}

// Endpoints lists the webhook endpoints by name.
func (s *Service) Endpoints(ctx context.Context) ([]EndpointView, error) {
	var eps []models.WebhookEndpoint
	if err := s.DB.Conn(ctx).Order("name").Find(&eps).Error; err != nil {
		return nil, err
	}
	out := make([]EndpointView, len(eps))
	for i, ep := range eps {
		out[i] = s.endpointView(ep)
	}
	return out, nil
}

// GetEndpoint returns the endpoint name.
func (s *Service) GetEndpoint(ctx context.Context, name string) (EndpointView, error) {
	ep, err := s.endpoint(ctx, name, false)
	if err != nil {
		return EndpointView{}, err
	}
	return s.endpointView(ep), nil
}

// endpoint reads the endpoint name; lock holds its row until the transaction ends.
func (s *Service) endpoint(ctx context.Context, name string, lock bool) (models.WebhookEndpoint, error) {
	var ep models.WebhookEndpoint
	q := s.DB.Conn(ctx)
	if lock {
		q = q.Clauses(models.ForUpdate())
	}
	err := q.Where("name = ?", name).Take(&ep).Error
	if models.IsNotFound(err) {
		return ep, domain.Errf(domain.ErrNotFound, "no webhook endpoint %q", name)
	}
	return ep, err
}

// DeleteEndpoint removes the endpoint name and every delivery owed to it.
func (s *Service) DeleteEndpoint(ctx context.Context, name string) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		ep, err := s.endpoint(ctx, name, false)
		if err != nil {
			return err
		}
		tx := s.DB.Conn(ctx)
		if err := tx.Where("endpoint_id = ?", ep.ID).Delete(&models.WebhookDelivery{}).Error; err != nil {
			return err
		}
		return tx.Delete(&ep).Error
	})
}

// RotateSecret issues the endpoint a new signing secret, shown this once; the one it replaces keeps
// signing beside it for RotationOverlap, so a consumer can switch without losing a delivery.
func (s *Service) RotateSecret(ctx context.Context, name string) (EndpointView, error) {
	var out EndpointView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ep, err := s.endpoint(ctx, name, true)
		if err != nil {
			return err
		}
		secret, err := webhook.NewSecret()
		if err != nil {
			return err
		}
		until := s.Now().Add(RotationOverlap)
		ep.PreviousSecret, ep.PreviousUntil, ep.Secret, ep.UpdatedAt = ep.Secret, &until, secret, s.Now()
		if err := s.DB.Conn(ctx).Select("previous_secret", "previous_until", "secret", "updated_at").Save(&ep).Error; err != nil {
			return err
		}
		out = s.endpointView(ep)
		out.Secret = secret
		return nil
	})
	return out, err
}

// subscriber is an enabled endpoint with its types read.
type subscriber struct {
	models.WebhookEndpoint
	types []string
}

// subscribers are the enabled endpoints.
func (s *Service) subscribers(ctx context.Context) ([]subscriber, error) {
	var eps []models.WebhookEndpoint
	if err := s.DB.Conn(ctx).Where("enabled = ?", true).Find(&eps).Error; err != nil {
		return nil, err
	}
	out := make([]subscriber, 0, len(eps))
	for _, ep := range eps {
		types, err := typesOf(ep)
		if err != nil {
			return nil, err
		}
		out = append(out, subscriber{WebhookEndpoint: ep, types: types})
	}
	return out, nil
}

// typesOf reads the event types an endpoint subscribes to.
func typesOf(ep models.WebhookEndpoint) ([]string, error) {
	var types []string
	if err := json.Unmarshal([]byte(ep.Events), &types); err != nil {
		return nil, fmt.Errorf("endpoint %s: events unreadable: %w", ep.Name, err)
	}
	return types, nil
}
