/* tensor/interrupt.c -- Ctrl-C as a counter that Lua polls (see fathom.h, INTERRUPT-SECTION).
 * The handler only touches a sig_atomic_t: nothing else is async-signal-safe. A press
 * past the hard limit restores the default action and re-raises, which is how a shell
 * expects a program to die of SIGINT (status 130), without exit() from library code. */
#include "internal.h"
#include <signal.h>
#include <errno.h>
#include <string.h>

static volatile sig_atomic_t presses = 0;
static volatile sig_atomic_t hard_limit = 0;
static struct sigaction previous;
static int installed = 0;

static void on_sigint(int sig) {
  presses++;
  if (hard_limit > 0 && presses >= hard_limit) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

int ft_interrupt_install(int hard_after) {
  if (hard_after < 0) return ft_fail("ft_interrupt_install: hard_after must be >= 0, got %d", hard_after);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* reads in progress (data files) carry on after a press */
  hard_limit = hard_after;
  presses = 0;
  if (sigaction(SIGINT, &sa, installed ? NULL : &previous) != 0)
    return ft_fail("ft_interrupt_install: sigaction(SIGINT) failed: %s", strerror(errno));
  installed = 1;
  return FT_OK;
}

int ft_interrupt_restore(void) {
  if (!installed) return FT_OK;
  if (sigaction(SIGINT, &previous, NULL) != 0)
    return ft_fail("ft_interrupt_restore: sigaction(SIGINT) failed: %s", strerror(errno));
  installed = 0;
  presses = 0;
  return FT_OK;
}

int ft_interrupt_count(void) { return (int)presses; }
void ft_interrupt_clear(void) { presses = 0; }
