package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// TestConsoleSignIn: with authentication on, the console asks for a token,
// refuses one without role admin, and shows the pages with an admin's,
// which it keeps for the tab.
func TestConsoleSignIn(t *testing.T) {
	exe := chromium(t)
	admin, reader := auth.NewToken(), auth.NewToken()
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	content := fmt.Sprintf("tokens:\n  - name: ops\n    sha256: %s\n    roles: [admin]\n  - name: viewer\n    sha256: %s\n    roles: [query]\n",
		auth.HashToken(admin), auth.HashToken(reader))
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	cfg.Auth.TokensFile = file
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v\npage: %s", what, err, html)
		}
	}
	mainText := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		return s
	}
	signIn := func(token string) {
		t.Helper()
		do("sign in", chromedp.WaitVisible(chromedp.CSS(`main[data-page="login"] #token`)),
			chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
	}

	do("open", chromedp.Navigate(srv.ConsoleURL()+"#/overview"))
	signIn(reader)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(mainText(), "lacks role admin"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a token without role admin is not refused by name:\n%s", mainText())
		}
	}
	do("clear", chromedp.Clear(chromedp.CSS("#token")))
	signIn(admin)
	do("the overview", chromedp.WaitVisible(chromedp.CSS(`main[data-page="overview"]`)))
	do("reload: the token is kept for the tab", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`main[data-page="overview"]`)))
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('evented.token')`))
	if err != nil || kept != admin {
		t.Errorf("sessionStorage holds %q (%v), want the admin token", kept, err)
	}
	if l, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.length + ''`)); l != "0" {
		t.Errorf("the token went to localStorage")
	}
	do("forget", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS(`main[data-page="login"]`)))
}
