package owner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteRecord writes v as indented JSON to path, atomically (a temporary
// file renamed over it), making path's folder if needed: a record is
// either the old one or the new one, never half written.
func WriteRecord(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadRecord reads the JSON record at path into v. A missing file is an
// error wrapping fs.ErrNotExist; a record that does not parse names the file.
func ReadRecord(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
