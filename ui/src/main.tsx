import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { createBackend } from "./backend/select";
import "./styles.css";
import { themeController } from "./theme/theme";

// The theme first: data-theme is on <html> before anything renders.
themeController();

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root element");
const backend = createBackend(window);
createRoot(root).render(
  <StrictMode>
    <App backend={backend} />
  </StrictMode>,
);
