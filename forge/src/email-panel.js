// Custom UI entry of the issue panel (jira:issueContext ai-email-panel): the Forge transport first, so
// window.JiraAITransport exists when the screen script (shared with the Connect page) starts.
import "../../static/js/transport-forge.js";
import "../../static/js/email-panel.js";
