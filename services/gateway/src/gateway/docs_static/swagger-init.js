// Swagger UI for the gateway's OpenAPI document: served by the gateway itself (no CDN, no inline script, so
// the page's Content-Security-Policy admits only this origin's files). "Authorize" takes an API key.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  persistAuthorization: false,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
