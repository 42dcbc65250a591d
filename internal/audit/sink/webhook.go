package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook POSTs batches of records as CloudTrail's log-file shape,
// {"Records":[event, ...]}, with Content-Type application/json and the
// header X-Arca-Audit-Sequence: FIRST-LAST. Any 2xx answer delivers the
// batch; anything else (or no answer within the timeout) is retried by the
// manager with exponential backoff and jitter, so the receiver may see a
// batch twice and should deduplicate by arcaSequence.
type Webhook struct {
	url     string
	headers map[string]string
	client  *http.Client
}

// WebhookOptions configure a Webhook sink.
type WebhookOptions struct {
	// URL receives the POSTs (http or https).
	URL string
	// Headers are added to every request (e.g. Authorization).
	Headers map[string]string
	// Timeout bounds one request, answer included (default 10s).
	Timeout time.Duration
}

// NewWebhook returns a Webhook sink.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook sink: url must be an http:// or https:// URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Webhook{url: o.URL, headers: o.Headers, client: &http.Client{Timeout: o.Timeout}}, nil
}

// Deliver posts recs as one batch.
func (w *Webhook) Deliver(ctx context.Context, recs []Record) (int, error) {
	var body bytes.Buffer
	body.WriteString(`{"Records":[`)
	for i, r := range recs {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(r.Line)
	}
	body.WriteString("]}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, &body)
	if err != nil {
		return 0, fmt.Errorf("webhook sink: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "arca-audit-webhook")
	req.Header.Set("X-Arca-Audit-Sequence", strconv.FormatUint(recs[0].Seq, 10)+"-"+strconv.FormatUint(recs[len(recs)-1].Seq, 10))
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry credentials.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return 0, fmt.Errorf("webhook sink: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("webhook sink: the receiver answered %s", resp.Status)
	}
	return len(recs), nil
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
