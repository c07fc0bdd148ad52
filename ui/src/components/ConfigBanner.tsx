// App-wide notice about the node's configuration file (see node/configAlert.ts for the rule).
import { useFeed } from "../feed/FeedProvider";
import { configAlert } from "../node/configAlert";
import { useNodeInfo } from "../node/useNodeInfo";
import { Link } from "wouter";
import { pathFor } from "../routes";
import { Icon } from "./Icon";

export function ConfigBanner() {
  const feed = useFeed();
  const info = useNodeInfo();
  const alert = configAlert(info.data, feed.lastConfig);
  if (alert === null) return null;
  if (alert.kind === "restart") {
    return (
      <div className="banner banner-info" data-testid="config-restart-banner" role="status">
        <Icon name="info" />
        <span>
          Configuration reloaded. Restart the node to apply: <span className="mono">{alert.fields.join(", ")}</span>
        </span>
      </div>
    );
  }
  const text = alert.message.trim();
  const message = /[.!?]$/.test(text) ? text : `${text}.`;
  return (
    <div className="banner banner-error" data-testid="config-banner" role="alert">
      <Icon name="alert" />
      <span>
        <strong>Configuration problem{alert.path ? ` in ${alert.path}` : ""}.</strong> {message} The node keeps
        running with its last good configuration.
      </span>
      <Link className="banner-link" href={pathFor("settings")}>
        Details
      </Link>
    </div>
  );
}
