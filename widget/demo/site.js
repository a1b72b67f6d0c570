// The demo shop's own script: a button that opens the chat through the widget's API.
document.getElementById("talk").addEventListener("click", () => {
  if (window.Causette) window.Causette.open();
});
