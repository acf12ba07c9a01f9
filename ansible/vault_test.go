package ansible_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
)

// The fixtures were written by ansible-core's ansible-vault
// (encrypt_string and encrypt) with the password in testdata/vault.
func TestDecryptVaultFixtures(t *testing.T) {
	t.Parallel()
	pw, err := ansible.ReadVaultPassword("testdata/vault/password")
	require.NoError(t, err)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata/vault", name))
		require.NoError(t, err)
		return string(b)
	}
	tests := []struct {
		name, text, password, want, err string
	}{
		{"string", read("string.vault"), string(pw), "ipmi-s3cret", ""},
		{"file", read("file.vault"), string(pw), "line1\nline2: x\n", ""},
		{"indented as in YAML", "  " + strings.ReplaceAll(read("string.vault"), "\n", "\n    "), string(pw), "ipmi-s3cret", ""},
		{"wrong password", read("string.vault"), "nope", "", "wrong vault password"},
		{"no header", "3031", string(pw), "", "no $ANSIBLE_VAULT header"},
		{"version", "$ANSIBLE_VAULT;2.0;AES256\n3031", string(pw), "", `format version "2.0"`},
		{"cipher", "$ANSIBLE_VAULT;1.1;AES\n3031", string(pw), "", `cipher "AES"`},
		{"not hex", "$ANSIBLE_VAULT;1.1;AES256\nzz", string(pw), "", "expected hexadecimal lines"},
		{"two parts", "$ANSIBLE_VAULT;1.1;AES256\n" + hexOf("ab\ncd"), string(pw), "", "got 2 parts"},
		{"empty password", read("string.vault"), "", "", "empty password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ansible.DecryptVault(tc.text, []byte(tc.password))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				if tc.password != "" {
					require.NotContains(t, err.Error(), tc.password)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			require.True(t, ansible.IsVaultEncrypted(tc.text))
		})
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// Texts the installed ansible-vault encrypts now, labelled (1.2) too.
func TestDecryptVaultFromAnsibleVault(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("ansible-vault")
	if err != nil {
		if os.Getenv("OSISM_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("ansible-vault not found (install ansible-core; scripts/services start does): %v", err)
		}
		t.Skip("ansible-vault not found: install ansible-core (scripts/services start does)")
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("pa ss;word\n"), 0o600))
	tests := []struct {
		name  string
		args  []string
		plain string
	}{
		{"1.1", []string{"--vault-password-file", pwFile}, "secret: with ünïcode and a long text " + strings.Repeat("x", 100)},
		{"1.2 with a vault id", []string{"--vault-id", "prod@" + pwFile}, "s"},
		{"block-sized", []string{"--vault-password-file", pwFile}, "0123456789abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"encrypt_string"}, tc.args...)
			cmd := exec.Command(bin, append(args, tc.plain)...)
			cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+dir, "HOME="+dir)
			out, err := cmd.Output()
			require.NoError(t, err)
			text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "!vault |"))
			require.True(t, ansible.IsVaultEncrypted(text), text)
			got, err := ansible.DecryptVault(text, []byte("pa ss;word"))
			require.NoError(t, err)
			require.Equal(t, tc.plain, string(got))
		})
	}
}
