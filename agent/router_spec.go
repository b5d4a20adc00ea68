package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/rsagent/rsagent/routetable/direct"
)

const (
	// maxSpecBytes bounds a route spec file or POST body: 1,000 CIDRs
	// with a few hosts each fit many times over.
	maxSpecBytes = 1 << 20
	// specSettle is how long the file must be quiet after an event before
	// it is read, so that an editor's several writes are read once.
	specSettle = 100 * time.Millisecond
	// specStatEvery is the backstop that catches changes fsnotify missed
	// (a network file system, a watch lost when the directory was replaced).
	specStatEvery = 2 * time.Second
)

func readSpecFile(path string) (direct.Spec, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return direct.ParseSpec(b)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSpecBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxSpecBytes)
	}
	return b, nil
}

func hashFile(path string) [32]byte {
	b, err := readLimited(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// watchSpecFile applies the route spec file whenever its content changes:
// fsnotify on its directory (editors replace files by renaming), plus a
// periodic read as a backstop. A file that does not parse or validate is
// refused and the running spec stays; a file that disappears keeps the
// running spec too. It follows a reload that changes or removes the path.
func (r *Router) watchSpecFile(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("cannot watch the route spec file; reading it every few seconds instead", "error", err)
	} else {
		defer w.Close()
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	watched := "" // the directory being watched
	follow := func() string {
		path := r.modelSnapshot().Router.SpecFile
		dir := ""
		if path != "" {
			dir = filepath.Dir(path)
		}
		if w != nil && dir != watched {
			if watched != "" {
				_ = w.Remove(watched)
			}
			watched = ""
			if dir != "" {
				if err := w.Add(dir); err != nil {
					r.log.Warn("cannot watch the route spec file's directory; reading it every few seconds instead", "path", path, "error", err)
				} else {
					watched = dir
				}
			}
		}
		return path
	}
	path := follow()
	tick := time.NewTicker(specStatEvery)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if path = follow(); path != "" && filepath.Clean(ev.Name) == filepath.Clean(path) {
				settle.Reset(specSettle)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("route spec file watch error", "path", path, "error", err)
		case <-settle.C:
			r.checkSpecFile(path)
		case <-tick.C:
			if path = follow(); path != "" {
				r.checkSpecFile(path)
			}
		}
	}
}

// checkSpecFile applies the file if its content differs from what was last
// applied or refused from it; a reload that changed the path stops here.
func (r *Router) checkSpecFile(path string) {
	if r.modelSnapshot().Router.SpecFile != path {
		return
	}
	b, err := readLimited(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cannot read the route spec file; the running spec stays", "path", path, "error", err)
		}
		return
	}
	sum := sha256.Sum256(b)
	r.mu.Lock()
	same := sum == r.specInfo.fileHash
	r.specInfo.fileHash = sum
	r.mu.Unlock()
	if same {
		return
	}
	spec, err := direct.ParseSpec(b)
	if err != nil {
		r.refuseSpec("file", fmt.Errorf("%s: %w", path, err))
		return
	}
	r.SetSpec(spec, "file")
}

// SpecResponse is the answer of POST /route_spec.
type SpecResponse struct {
	Spec   direct.Spec `json:"spec,omitempty"`
	Source string      `json:"source,omitempty"`
	Note   string      `json:"note,omitempty"`
	Error  string      `json:"error,omitempty"`
}

func (r *Router) handleGetSpec(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.Spec())
}

// handlePostSpec replaces the spec. A spec that does not parse or validate
// answers 400 with the problem and changes nothing.
func (r *Router) handlePostSpec(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxSpecBytes))
	if err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, SpecResponse{Error: "read body: " + err.Error()})
		return
	}
	spec, err := direct.ParseSpec(body)
	if err != nil {
		r.refuseSpec("http", err)
		writeJSON(w, http.StatusBadRequest, SpecResponse{Error: err.Error()})
		return
	}
	r.SetSpec(spec, "http")
	resp := SpecResponse{Spec: spec, Source: "http"}
	if f := r.modelSnapshot().Router.SpecFile; f != "" {
		resp.Note = "in force until " + f + " changes or rsagent restarts"
	} else {
		resp.Note = "in force until rsagent restarts (or a reload changes router.routes)"
	}
	writeJSON(w, http.StatusOK, resp)
}

func (r *Router) newHTTPServer(m *Model) (*httpServer, error) {
	return newHTTPServer(m.HTTP, httpEndpoints{
		metrics: r.met,
		status:  r.Status,
		ready: func(w http.ResponseWriter, _ *http.Request) {
			if !r.ready.Load() {
				http.Error(w, "not ready: the first pass has not run", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		},
		plain:    map[string]http.Handler{"GET /route_spec": http.HandlerFunc(r.handleGetSpec)},
		mutating: map[string]http.Handler{"POST /route_spec": http.HandlerFunc(r.handlePostSpec)},
	})
}
