export { buildOnce, copyRuntimeDependencies, defaultCacheDir, mavenDependency, mavenPom, runMaven, writeMavenReactor } from './cache.js';
export { asNodeUser, consoleLog4jConfig, freePorts, giveToNodeUser, linkTree, runningAsRoot, smallNodeJvmFlags, UNPRIVILEGED_ID } from './home.js';
export { type FindJavaOptions, findJava, javaMajor, jdkTool } from './java.js';
export { type JvmLaunch, type LocalSearchNode, type LocalSearchNodeOptions, type SupervisedNodeOptions, superviseNode } from './process.js';
