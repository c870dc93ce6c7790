// Enhances the pages (they all work without it): the design systems' components start here.
import { initAll as initGovuk } from "./vendor/govuk-frontend.min.js";
import { initAll as initMoj } from "./vendor/moj-frontend.min.js";

// The class GOV.UK Frontend's own template sets inline, which the CSP forbids.
document.body.classList.add("govuk-frontend-supported");
initGovuk();
initMoj();
