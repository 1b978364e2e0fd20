// Package metrics holds the hub's Prometheus metrics: one registry per process, the instruments every
// layer records into (HTTP requests, notifications and platform pushes, background sweeps, transaction
// retries), and collectors that read the database's pool and work queues at scrape time. It is a leaf:
// it imports no package of the hub, and records nothing about people (no phone, member or token).
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the process's registry: the Go runtime and process collectors and the hub's instruments.
var Registry = prometheus.NewRegistry()

var (
	// HTTPRequests counts answered requests by route pattern, method and status.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o2ohub_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status."}, []string{"route", "method", "status"})
	// HTTPDuration observes how long requests took, by route pattern and method.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "o2ohub_http_request_duration_seconds",
		Help: "Time to answer HTTP requests, by route pattern and method.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)},
		[]string{"route", "method"})
	// Notifications counts payment and refund notifications and platform pushes by provider and outcome
	// (applied results such as paid or duplicate, or refused, failed).
	Notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o2ohub_notifications_total",
		Help: "Provider notifications and platform pushes, by provider and outcome."}, []string{"provider", "outcome"})
	// SweepDuration observes one run of a background worker.
	SweepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "o2ohub_worker_sweep_duration_seconds",
		Help: "Time one run of a background worker took, by worker.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 12)}, []string{"worker"})
	// SweepRows counts the rows background workers handled.
	SweepRows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o2ohub_worker_rows_total",
		Help: "Rows handled by background workers, by worker."}, []string{"worker"})
	// SweepErrors counts failed runs of background workers.
	SweepErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o2ohub_worker_errors_total",
		Help: "Failed runs of background workers, by worker."}, []string{"worker"})
	// TxRetries counts transactions retried after a transient conflict, by reason (deadlock,
	// serialization, busy).
	TxRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o2ohub_db_tx_retries_total",
		Help: "Transactions retried after a transient lock conflict, by reason."}, []string{"reason"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		HTTPRequests, HTTPDuration, Notifications, SweepDuration, SweepRows, SweepErrors, TxRetries, queues)
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// RegisterDB shows the connection pool's statistics (open, in use, idle, waits) of the process's
// database, in place of the pool registered before (a process that serves again, as tests do).
func RegisterDB(db *sql.DB) error {
	dbMu.Lock()
	defer dbMu.Unlock()
	if dbStats != nil {
		Registry.Unregister(dbStats)
	}
	dbStats = collectors.NewDBStatsCollector(db, "o2ohub")
	return Registry.Register(dbStats)
}

var (
	dbMu    sync.Mutex
	dbStats prometheus.Collector
)

// Queue is the state of one work queue at a moment: how many items wait and how long the oldest due one
// has been due.
type Queue struct {
	Name  string
	Depth int64
	Lag   time.Duration
}

// SetBacklog makes each scrape read the work queues with backlog (with a 2-second timeout), in place of
// the reader set before.
func SetBacklog(backlog func(context.Context) ([]Queue, error)) {
	queues.backlog.Store(&backlog)
}

var queues = &queueCollector{}

var (
	queueDepth = prometheus.NewDesc("o2ohub_queue_depth", "Items waiting in a work queue.", []string{"queue"}, nil)
	queueLag   = prometheus.NewDesc("o2ohub_queue_lag_seconds", "How long the oldest due item of a work queue has been due.", []string{"queue"}, nil)
	queueUp    = prometheus.NewDesc("o2ohub_queue_scrape_ok", "1 when the work queues could be read at this scrape.", nil, nil)
)

type queueCollector struct {
	backlog atomic.Pointer[func(context.Context) ([]Queue, error)]
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- queueLag
	ch <- queueUp
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	backlog := c.backlog.Load()
	if backlog == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	qs, err := (*backlog)(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 1)
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(q.Depth), q.Name)
		ch <- prometheus.MustNewConstMetric(queueLag, prometheus.GaugeValue, max(q.Lag, 0).Seconds(), q.Name)
	}
}
