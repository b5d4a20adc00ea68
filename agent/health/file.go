package health

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileCheck passes while path exists (want true) or while it does not (want
// false). It only stats, so it is cheap enough for every round.
type fileCheck struct {
	path string
	want bool
}

// NewFile returns a check that passes while path exists: a "ready" file that
// the service creates once it can take traffic (e.g. /run/fw/ready).
func NewFile(path string) (Checker, error) {
	if err := checkAbs("file check", path); err != nil {
		return nil, err
	}
	return &fileCheck{path: path, want: true}, nil
}

// NewNoFile returns a check that fails while path exists. Prefer the
// service's maintenance file, which reports the state "disabled" instead of
// "down"; this kind is for a second, independent marker file.
func NewNoFile(path string) (Checker, error) {
	if err := checkAbs("no_file check", path); err != nil {
		return nil, err
	}
	return &fileCheck{path: path, want: false}, nil
}

func (c *fileCheck) Check(ctx context.Context) error {
	exists, err := fileExists(c.path)
	switch {
	case err != nil:
		return err
	case exists && !c.want:
		return fmt.Errorf("%s exists", c.path)
	case !exists && c.want:
		return fmt.Errorf("%s does not exist", c.path)
	}
	return nil
}

func (c *fileCheck) String() string {
	if c.want {
		return "file " + c.path
	}
	return "no_file " + c.path
}

// fileExists stats path. Errors other than "does not exist" (permission,
// not a directory) are returned, so the caller does not mistake them for
// absence.
func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err // *fs.PathError reads "stat /path: permission denied"
	}
}

func checkAbs(what, path string) error {
	if path == "" {
		return fmt.Errorf("%s: empty path", what)
	}
	// A relative path would depend on the daemon's working directory.
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s %q: path must be absolute", what, path)
	}
	return nil
}
