//go:build !linux

package services

import "os"

// syncFS makes the temporary files durable before they are renamed into
// place, one fsync per file where syncfs is not available.
func syncFS(_ string, tmps []string) error {
	for _, t := range tmps {
		f, err := os.OpenFile(t, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
