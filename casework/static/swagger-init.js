// Starts Swagger UI on the API's docs page (templates/swagger_ui.html) with its settings from the
// page's data attributes: no inline script.
const container = document.getElementById("swagger-ui-container");
window.ui = SwaggerUIBundle({
  url: container.dataset.specUrl,
  dom_id: "#swagger-ui-container",
  ...JSON.parse(container.dataset.config),
});
