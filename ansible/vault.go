package ansible

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// VaultHeader starts every Ansible Vault text.
const VaultHeader = "$ANSIBLE_VAULT;"

// ErrVaultPassword reports a vault text whose HMAC does not match: the
// password is wrong or the text was changed.
var ErrVaultPassword = errors.New("wrong vault password or changed vault text")

// IsVaultEncrypted reports whether s is an Ansible Vault text (its first
// non-blank characters are the vault header).
func IsVaultEncrypted(s string) bool {
	return strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), VaultHeader)
}

// ReadVaultPassword reads a vault password file as ansible-vault does:
// the file's content without trailing whitespace. An executable password
// script is not run.
func ReadVaultPassword(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault password file: %w", err)
	}
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("vault password file %s: empty: expected the vault password", path)
	}
	return b, nil
}

// DecryptVault decrypts an Ansible Vault text of format 1.1 or 1.2 (with a
// vault id label) and cipher AES256, as `ansible-vault encrypt` and
// `encrypt_string` write it: the key material is PBKDF2-SHA256 of the
// password and the salt (10,000 rounds, 80 bytes: AES key, HMAC key,
// counter), the HMAC-SHA256 of the cipher text is checked before
// anything is decrypted, and the plain text is AES-256-CTR with PKCS#7
// padding. Errors name what is wrong with the text, never the password
// or the plain text.
func DecryptVault(text string, password []byte) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("vault: empty password")
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	header := strings.TrimSpace(lines[0])
	if !strings.HasPrefix(header, VaultHeader) {
		return nil, errors.New("vault: no $ANSIBLE_VAULT header: expected an Ansible Vault text")
	}
	fields := strings.Split(header, ";")
	if len(fields) < 3 {
		return nil, fmt.Errorf("vault: header %q: expected $ANSIBLE_VAULT;VERSION;CIPHER", header)
	}
	switch fields[1] {
	case "1.1", "1.2":
	default:
		return nil, fmt.Errorf("vault: format version %q: expected 1.1 or 1.2", fields[1])
	}
	if strings.TrimSpace(fields[2]) != "AES256" {
		return nil, fmt.Errorf("vault: cipher %q: expected AES256", fields[2])
	}
	var body strings.Builder
	for _, l := range lines[1:] {
		body.WriteString(strings.TrimSpace(l))
	}
	outer, err := hex.DecodeString(body.String())
	if err != nil {
		return nil, errors.New("vault: body: expected hexadecimal lines")
	}
	parts := strings.Split(string(outer), "\n")
	if len(parts) != 3 {
		return nil, fmt.Errorf("vault: body: expected salt, HMAC and cipher text, got %d parts", len(parts))
	}
	salt, err1 := hex.DecodeString(parts[0])
	mac, err2 := hex.DecodeString(parts[1])
	ct, err3 := hex.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || len(salt) == 0 || len(mac) != sha256.Size {
		return nil, errors.New("vault: body: expected hexadecimal salt, 32-byte HMAC and cipher text")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("vault: cipher text of %d bytes: expected a positive multiple of %d", len(ct), aes.BlockSize)
	}
	km, err := pbkdf2.Key(sha256.New, string(password), salt, 10000, 80)
	if err != nil {
		return nil, fmt.Errorf("vault: derive keys: %w", err)
	}
	h := hmac.New(sha256.New, km[32:64])
	h.Write(ct)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, fmt.Errorf("vault: %w", ErrVaultPassword)
	}
	block, err := aes.NewCipher(km[:32])
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(block, km[64:80]).XORKeyStream(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return nil, errors.New("vault: bad padding of the plain text")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, errors.New("vault: bad padding of the plain text")
		}
	}
	return plain[:len(plain)-pad], nil
}
