// allybridge admin: the page's only script of its own, compiled into the
// binary. Everything works without it; it adds a "select every row" box
// to bulk forms and asks before a button marked data-confirm submits.
document.addEventListener("change", function (event) {
  var all = event.target.closest("[data-select-all]");
  if (!all) return;
  var form = all.form;
  if (!form) return;
  form.querySelectorAll("input[type=checkbox][name=ids]").forEach(function (box) {
    box.checked = all.checked;
  });
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
