// {{app}}: small progressive enhancements; every page works without them. Loaded with `defer`, no inline code,
// so the pages' Content-Security-Policy can forbid inline scripts.
(function enhance() {
  const year = String(new Date().getFullYear());
  for (const el of document.querySelectorAll('[data-year]')) {
    el.textContent = year;
  }
  const here = location.pathname.split('/').pop() || 'index.html';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === here) {
      a.setAttribute('aria-current', 'page');
    }
  }
})();
